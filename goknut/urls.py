from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from goknut import health, metrics_access

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Browsers and feed readers ask for /favicon.ico whatever the page says.
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/", include("logs_api.urls")),
    # django-prometheus's view, for METRICS_ALLOWED_NETWORKS or METRICS_TOKEN only.
    path("metrics", metrics_access.metrics, name="prometheus-django-metrics"),
    path("", include("messages_app.urls")),
]

handler500 = "goknut.middleware.server_error"
