"""An import of old logs while pages are open: open pages are not flooded with
history (their stream sends only new chat), and every list shows the imported
lines at the time they were sent, after newer chat in "newest first"."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

from django.core.management import call_command

from messages_app.models import Message
from tests.conftest import chat
from tests.ingest.test_import import justlog_tree


def test_an_import_reaches_lists_at_its_time_and_open_pages_not_at_all(
    server, sse, store, client, tmp_path
):
    store(chat("forsen", "alice", "before the import"))
    stream = sse(server.url + "/live?view=messages")
    stream.next()  # connected
    home = sse(server.url + "/live?view=home")
    home.next()

    justlog_tree(tmp_path / "logs")
    call_command("import_logs", str(tmp_path / "logs"), stdout=StringIO(), stderr=StringIO())
    imported = Message.objects.filter(sent_at__lt=datetime(2025, 1, 1, tzinfo=UTC)).count()
    assert imported > 50
    store(chat("forsen", "bob", "after the import"))

    # The stream's next message is the live line: none of the history before it.
    [event] = stream.messages(1)
    assert event.data["text"] == "after the import"
    assert not [e for e in stream.drain() if e.type == "message"]
    # The totals count the import at once.
    total = Message.objects.filter(kind__in=[1, 4]).count()
    home.until(lambda e: e.type == "metrics" and e.data["total_messages"] == total)

    # Newest first: today's two lines, then the imported history, newest of it first.
    rows = list(Message.objects.order_by("-id").values_list("text", "sent_at"))
    assert [text for text, _ in rows[:2]] == ["after the import", "before the import"]
    times = [at for _, at in rows]
    assert times == sorted(times, reverse=True)
    page = client.get("/messages").content.decode()
    assert page.index("after the import") < page.index("before the import")
    day = client.get("/channels/forsen?day=2024-03-01").content.decode()
    assert day.index("forsen 03-01 line 11") < day.index("forsen 03-01 line 0")
