"""{% ingest_state %}: what the page says about ingest beside the live dot."""

from django import template

from messages_app.ingest import heartbeat

register = template.Library()


@register.inclusion_tag("live/ingest_state.html")
def ingest_state() -> dict:
    """Read from the heartbeat (at most every 2 s per process); live.js keeps it
    current from the stream's status events, which carry the same fields."""
    state = heartbeat.cached_state()
    if state is None:  # unreadable: say nothing rather than something wrong
        return {"ingest": None}
    public = state.public()
    key = "|".join([public["state"], public["label"], public.get("since") or ""])
    return {"ingest": public, "since": state.since, "key": key}
