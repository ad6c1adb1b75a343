"""Liveness and readiness probes for load balancers and orchestrators."""

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from messages_app.ingest import heartbeat

# The web process's /metrics reports ingest's state from its heartbeat too.
heartbeat.register_collector()


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """The database answers a query (else 503). Ingest not receiving chat
    (stopped, connecting, in no channel) makes it `degraded`, still 200: the
    pages work, the archive is just not growing (docs/deployment.md)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return JsonResponse({"status": "unavailable", "error": str(exc)}, status=503)
    try:
        ingest = heartbeat.read_state()
    except DatabaseError as exc:  # e.g. not migrated yet
        return JsonResponse(
            {"status": "degraded", "database": connection.vendor,
             "ingest": {"state": "unknown", "error": str(exc)}}
        )  # fmt: skip
    return JsonResponse(
        {
            "status": "ok" if ingest.healthy else "degraded",
            "database": connection.vendor,
            "ingest": ingest.summary(),
        }
    )
