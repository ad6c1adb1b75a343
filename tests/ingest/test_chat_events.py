"""Every chat event through the real client over TCP: deletions in any order,
and counters exact after thousands of mixed lines (the simulator's mix)."""

import pytest
from django.db.models import Count, Q, Sum

from messages_app.ingest.simulator import clearmsg, privmsg
from messages_app.models import ActivityBucket, Channel, ChatUser, Kind, Message, UserChannelStats
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import ThreadedTwitchServer, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_marks_deleted_messages_whether_the_deletion_comes_after_with_or_before(
    twitch_server, ingest
):
    ChannelFactory(name="forsen")
    runner = ingest(twitch_server.url)
    conn = twitch_server.wait_for_login()
    twitch_server.wait_for(lambda: "forsen" in conn.joined, "JOIN #forsen")
    twitch_server.send(privmsg("forsen", "alice", "after", twitch_id="t-after"))
    wait_until(lambda: Message.objects.filter(twitch_id="t-after").exists(), "the target")
    twitch_server.send(clearmsg("forsen", "alice", "t-after", "after"))
    twitch_server.send(  # one read, one batch
        clearmsg("forsen", "bob", "t-same", "same"),
        privmsg("forsen", "bob", "same", twitch_id="t-same"),
    )
    twitch_server.send(clearmsg("forsen", "carol", "t-before", "before"))
    wait_until(lambda: Message.objects.filter(kind=Kind.CLEARMSG).count() == 3, "3 deletions")
    twitch_server.send(privmsg("forsen", "carol", "before", twitch_id="t-before"))
    wait_until(lambda: Message.objects.filter(twitch_id="t-before").exists(), "the late target")
    runner.stop()
    deleted = dict(Message.objects.filter(kind=Kind.PRIVMSG).values_list("twitch_id", "deleted_at"))
    assert all(deleted[t] is not None for t in ("t-after", "t-same", "t-before")), deleted


def test_it_keeps_every_counter_exact_after_5000_mixed_lines(ingest):
    ChannelFactory(name="forsen")
    server = ThreadedTwitchServer(rate=2500, limit=5000, mix=True, seed=3)
    try:
        runner = ingest(server.url, batch_size=500)
        wait_until(lambda: Message.objects.count() >= 5000, "5,000 lines stored", 30)
        stats = runner.stop()
    finally:
        server.close()
    assert (Message.objects.count(), stats.duplicates) == (5000, 0)
    kinds = dict(Message.objects.values_list("kind").annotate(n=Count("id")))
    assert kinds[Kind.USERNOTICE] > 20 and kinds[Kind.CLEARMSG] + kinds[Kind.CLEARCHAT] > 5
    counted = Message.objects.filter(kind__in=[Kind.PRIVMSG, Kind.USERNOTICE])
    total = counted.count()
    assert Channel.objects.aggregate(n=Sum("total_messages"))["n"] == total
    assert ActivityBucket.objects.aggregate(n=Sum("count"))["n"] == total
    assert UserChannelStats.objects.aggregate(n=Sum("total_messages"))["n"] == total
    per_user = dict(counted.values_list("user__username").annotate(n=Count("id")))
    for user in ChatUser.objects.all():
        assert user.total_messages == per_user.get(user.username, 0), user.username
    deletions = Message.objects.filter(kind=Kind.CLEARMSG).count()
    assert Message.objects.filter(~Q(deleted_at=None)).count() == deletions
