"""Pages and their htmx partials, grouped by resource (docs/pages.md).

The list partials (`.../rows`) come before the `<name>` routes: a channel or
user literally named "rows" is shadowed there, a trade for the short URLs.
"""

from django.urls import path

from messages_app import staff_views, views

app_name = "messages_app"

urlpatterns = [
    path("", views.home, name="home"),
    path("home/metrics", views.home_metrics, name="home_metrics"),
    path("messages", views.message_list, name="messages"),
    path("messages/rows", views.message_rows, name="message_rows"),
    path("search", views.search_page, name="search"),
    path("search/rows", views.search_rows, name="search_rows"),
    path("channels", views.channel_list, name="channels"),
    path("channels/rows", views.channel_rows, name="channel_list_rows"),
    path("channels/<str:name>", views.channel_detail, name="channel"),
    path("channels/<str:name>/rows", views.channel_detail_rows, name="channel_rows"),
    path("channels/<str:name>/enabled", views.channel_enabled, name="channel_enabled"),
    path("channels/<str:name>/delete", views.channel_delete, name="channel_delete"),
    path("channels/<str:name>/retention", views.channel_retention, name="channel_retention"),
    path("users", views.user_list, name="users"),
    path("users/rows", views.user_rows, name="user_rows"),
    path("users/<str:name>", views.user_detail, name="user"),
    path("users/<str:name>/rows", views.user_detail_rows, name="user_messages"),
    path("users/<str:name>/summary", views.user_summary, name="user_summary"),
    path("users/<str:name>/optout", views.user_optout, name="user_optout"),
    path("optout", views.optout_page, name="optout"),
    path("staff/archive", staff_views.archive, name="staff_archive"),
]
