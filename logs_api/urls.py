"""`/api`: the chat-log ecosystem's endpoints (docs/api.md)."""

from django.urls import path, re_path

from logs_api import docs, recent, views

app_name = "logs_api"

urlpatterns = [
    path("channels", views.channels, name="channels"),
    path("list", views.available, name="list"),
    path("capabilities", views.capabilities, name="capabilities"),
    path("optout", views.optout, name="optout"),
    path("namehistory/<str:user_id>", views.name_history, name="namehistory"),
    path("v2/recent-messages/<str:login>", recent.recent_messages, name="recent_messages"),
    path("docs", docs.docs_page, name="docs"),
    path("openapi.json", docs.openapi_json, name="openapi"),
    re_path(r"^(?P<path>channel(?:id)?/.*)$", views.logs, name="logs"),
]
