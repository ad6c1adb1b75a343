"""The chat simulator: what `ingest --demo` and the benchmarks talk to."""

from datetime import UTC, datetime

import pytest

from messages_app.ingest.parser import parse_line, to_record
from messages_app.ingest.simulator import ChatLines
from messages_app.models import Channel, Message
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import ThreadedTwitchServer, wait_until

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_it_writes_twitch_lines_with_fresh_ids_every_run():
    first = [to_record(parse_line(line), NOW) for line in ChatLines(seed=1).lines(["a"], 500, 0)]
    again = [to_record(parse_line(line), NOW) for line in ChatLines(seed=1).lines(["a"], 500, 0)]
    assert [r.text for r in first] == [r.text for r in again]  # the seed fixes the chat
    assert not {r.twitch_id for r in first} & {r.twitch_id for r in again}
    assert len({r.twitch_id for r in first}) == 500
    assert any(r.is_action for r in first)
    assert any(not r.text.isascii() for r in first)
    assert all(r.tags["color"].startswith("#") for r in first)


@pytest.mark.django_db(transaction=True)
def test_it_chats_only_in_joined_channels_up_to_its_limit(ingest):
    ChannelFactory(name="forsen")
    ChannelFactory(name="xqc")
    server = ThreadedTwitchServer(rate=2000, limit=300)
    try:
        runner = ingest(server.url)
        wait_until(lambda: Message.objects.count() == 300, "300 lines of simulated chat")
        assert runner.stop().stored == 300
    finally:
        server.close()
    assert set(Channel.objects.filter(total_messages__gt=0).values_list("name", flat=True)) <= {
        "forsen",
        "xqc",
    }
