"""Staff-only pages beyond the channel actions: what the archive costs
(/staff/archive). The figures come from messages_app/archive_stats.py."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from messages_app import archive_stats

# dbstat reads the whole SQLite file (a second or more on a big archive): one
# measure serves every staff request for a minute.
CACHE_KEY = "goknut:archive-stats"
CACHE_SECONDS = 60


@require_GET
@staff_member_required
def archive(request: HttpRequest) -> HttpResponse:
    stats = cache.get(CACHE_KEY)
    if stats is None:
        stats = archive_stats.measure()
        cache.set(CACHE_KEY, stats, CACHE_SECONDS)
    context = {"stats": stats, "tables": stats.breakdown(), "cache_seconds": CACHE_SECONDS}
    return render(request, "staff/archive.html", context)
