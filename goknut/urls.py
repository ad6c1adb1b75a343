from django.contrib import admin
from django.urls import include, path

from goknut import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("django_prometheus.urls")),  # /metrics
    path("", include("messages_app.urls")),
]
