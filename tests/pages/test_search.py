"""/search: full-text search with filters, highlights, keyset paging, tips."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from messages_app import search
from messages_app.models import ActivityBucket, Message
from tests.conftest import chat
from tests.pages.conftest import html, row_ids

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def matching_ids(query: str, **filters) -> list[int]:
    qs = search.matching(Message.objects.filter(**filters), query)
    return list(qs.order_by("-id").values_list("id", flat=True))


@pytest.fixture
def corpus(store):
    lines = ["boss fight again", "what a boss", "speedrun world record", "lol", "gg wp"]
    store(
        *[
            chat(
                "forsen" if n % 2 else "xqc",
                "alice" if n % 3 else "bob",
                lines[n % len(lines)],
                sent_at=T0 + timedelta(minutes=n),
            )
            for n in range(300)
        ],
        # The words of "world record" apart: a phrase must not find them.
        *[
            chat(
                "forsen" if n % 20 else "xqc",
                "carol",
                "a record for the world",
                sent_at=T0 + timedelta(minutes=n, seconds=30),
            )
            for n in range(0, 300, 10)
        ],
    )


def test_it_finds_matches_newest_first(client, corpus):
    response = client.get("/search?q=boss")
    assert response.status_code == 200
    assert row_ids(response) == matching_ids("boss")[:50]


def test_it_highlights_terms_after_escaping(client, store):
    store(chat(text='<b>boss</b> & "boss" <script>boss()</script>'))
    text = html(client.get("/search?q=boss"))
    row = text.split('<span class="msg-text">')[1].split("</span>")[0]
    assert row == (
        "&lt;b&gt;<mark>boss</mark>&lt;/b&gt; &amp; &quot;<mark>boss</mark>&quot; "
        "&lt;script&gt;<mark>boss</mark>()&lt;/script&gt;"
    )


def test_a_query_that_looks_like_html_cannot_inject(client, store):
    store(chat(text="script alert"))
    text = html(client.get("/search?q=%3Cscript%3Ealert"))
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert" in text  # the query echoed back, escaped


def test_it_highlights_prefix_terms_and_phrases(client, corpus):
    text = html(client.get("/search?q=speed*"))
    assert "<mark>speedrun</mark>" in text
    text = html(client.get("/search?q=%22boss+fight%22"))
    assert "<mark>boss fight</mark>" in text
    assert row_ids(client.get("/search?q=%22boss+fight%22")) == matching_ids('"boss fight"')[:50]


def test_it_excludes_negated_terms(client, corpus):
    response = client.get("/search?q=boss+-fight")
    assert row_ids(response) == matching_ids("boss -fight")[:50]
    assert "fight" not in html(response).split('<ol class="msg-list"')[1].split("</ol>")[0]


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("channel=forsen", {"channel__name": "forsen"}),
        ("user=bob", {"user__username": "bob"}),
        ("channel=xqc&user=alice", {"channel__name": "xqc", "user__username": "alice"}),
        (
            "since=2024-05-01T13:00&until=2024-05-01T14:00",
            {"sent_at__gte": T0 + timedelta(hours=1), "sent_at__lt": T0 + timedelta(hours=2)},
        ),
    ],
)
def test_it_filters(client, corpus, query, filters):
    response = client.get(f"/search?q=boss&{query}")
    assert row_ids(response) == matching_ids("boss", **filters)[:50]


def test_it_pages_without_skipping_or_repeating(client, store, corpus):
    seen: list[int] = []
    url = "/search?q=boss&channel=forsen"
    while True:
        response = client.get(url)
        ids = row_ids(response)
        seen += ids
        store(chat("forsen", text="boss arrives later"))
        if 'rel="next"' not in html(response):
            break
        url = f"/search?q=boss&channel=forsen&before={ids[-1]}"
    expected = [i for i in matching_ids("boss", channel__name="forsen") if i <= max(seen)]
    assert seen == expected
    assert len(seen) > 50


def test_the_index_walk_agrees_with_the_planner(corpus, monkeypatch):
    """newest_matches' chunked walk and its fallback give the planner's answer."""
    monkeypatch.setattr(search, "WALK_BUDGET", 30)
    qs = Message.objects.filter(user__username="bob")
    for query in ("boss", "speed*", "lol -gg", '"world record"'):
        for share in (None, 0.0001):
            found = search.newest_matches(qs, query, 20, expected_share=share)
            assert [m.id for m in found] == matching_ids(query, user__username="bob")[:20]
            older = search.newest_matches(qs, query, 20, before=found[-1].id)
            assert [m.id for m in older] == matching_ids(query, user__username="bob")[20:40]
            ascending = sorted(matching_ids(query, user__username="bob"))
            newer = search.newest_matches(qs, query, 5, after=ascending[0], newest_first=False)
            assert [m.id for m in newer] == ascending[1:6]


def test_the_rows_partial_loads_older_matches(client, corpus):
    first = row_ids(client.get("/search?q=boss"))
    response = client.get(f"/search/rows?q=boss&before={first[-1]}")
    assert row_ids(response) == matching_ids("boss")[50:100]
    assert 'id="search-results-pager"' in html(response)


def test_the_rows_partial_needs_a_query(client):
    assert client.get("/search/rows").status_code == 400


def test_it_shows_tips_before_searching(client):
    text = html(client.get("/search"))
    assert "Search tips" in text
    assert '<code>"clip it"</code>' in text
    assert "<code>hype -train</code>" in text
    assert "<code>speed*</code>" in text


def test_it_explains_an_empty_result(client, corpus):
    text = html(client.get("/search?q=pineapple&channel=forsen"))
    assert "No messages match “pineapple” in #forsen." in text
    assert "Search tips" in text


def test_it_explains_a_query_without_terms(client, corpus):
    text = html(client.get("/search?q=-boss"))
    assert "Nothing to search for" in text


@pytest.mark.parametrize("query", ['"', "AND(", "*", "NEAR(a b)", "'", "-", "(", "\\", "😂"])
def test_it_never_fails_on_odd_queries(client, corpus, query):
    assert client.get("/search", {"q": query}).status_code == 200


def test_search_results_do_not_stream(client, corpus):
    text = html(client.get("/search?q=boss"))
    assert "data-live-list" not in text
    assert "data-live-root" not in text


def test_it_rejects_bad_filters(client, corpus):
    assert client.get("/search?q=boss&before=x").status_code == 400
    assert client.get("/search?q=boss&channel=nobody").status_code == 400


def test_a_small_scope_is_tested_row_by_row_and_agrees_with_the_planner(corpus, monkeypatch):
    """A scope the counters call small (a quiet user) is read by its index and its
    rows tested against the full-text index; a bigger one than they said falls
    back to the walk. A prefix query too (FTS5 would expand the prefix anew for
    each row tested in the search index; the scope's own small index does not)."""
    qs = Message.objects.filter(user__username="bob")  # 100 rows
    calls = []
    for name in ("_fts_rowids", "_scan", "_matches_among", "_few_rows_matches"):
        real = getattr(search, name)
        monkeypatch.setattr(search, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    for query in ("boss", "speed*", "lol -gg", '"world record"'):
        calls.clear()
        expected = matching_ids(query, user__username="bob")
        found = search.newest_matches(qs, query, 20, scope_rows=100)
        assert [m.id for m in found] == expected[:20]
        older = search.newest_matches(qs, query, 20, before=found[-1].id, scope_rows=100)
        assert [m.id for m in older] == expected[20:40]
        newer = search.newest_matches(qs, query, 5, after=min(expected), newest_first=False,
                                      scope_rows=100)  # fmt: skip
        assert [m.id for m in newer] == sorted(expected)[1:6]
        if connection.vendor == "sqlite":  # PostgreSQL: the planner answers every query
            assert sorted(set(calls)) == ["_few_rows_matches", "_matches_among"]
            assert len(calls) == 6  # one each, no walk
    monkeypatch.setattr(search, "FEW_ROWS", 30)  # the counters were behind: bob has more
    calls.clear()
    found = search.newest_matches(qs, "boss", 20, scope_rows=10)
    assert [m.id for m in found] == matching_ids("boss", user__username="bob")[:20]
    assert "_fts_rowids" in calls or connection.vendor != "sqlite"


@pytest.mark.parametrize("way", ["own index", "scan"])
def test_the_scope_walk_agrees_with_the_planner(corpus, monkeypatch, way):
    """With a user's or channel's count, the walk may read the scope's own index
    and test its ids in a small index of their own rows or by reading the
    matches of their range; both give the planner's answer, in both directions."""
    calls = []
    for name in ("_matches_among", "_scan"):
        real = getattr(search, name)
        monkeypatch.setattr(search, name, lambda *a, _r=real, _n=name: calls.append(_n) or _r(*a))
    monkeypatch.setattr(search, "FIRST_CHUNK", 8)
    monkeypatch.setattr(search._Costs, "scope_walk_is_cheaper", lambda self, rows: True)
    monkeypatch.setattr(
        search._Costs, "own_index_is_cheaper", lambda self, ids, span: way == "own index"
    )
    for filters in ({"user__username": "bob"}, {"channel__name": "xqc"}):
        qs = Message.objects.filter(**filters)
        for query in ("boss", "lol -gg", '"world record"'):
            expected = matching_ids(query, **filters)
            found = search.newest_matches(qs, query, 20, scope_rows=1_000, expected_share=0.3)
            assert [m.id for m in found] == expected[:20]
            older = search.newest_matches(qs, query, 20, before=found[-1].id, scope_rows=1_000)
            assert [m.id for m in older] == expected[20:40]
            newer = search.newest_matches(
                qs, query, 25, after=min(expected), newest_first=False, scope_rows=1_000
            )
            assert [m.id for m in newer] == sorted(expected)[1:26]
    if connection.vendor == "sqlite":
        assert set(calls) == {"_matches_among" if way == "own index" else "_scan"}


def test_the_cost_figures_pick_the_cheaper_way(monkeypatch):
    """Matches as dense as the scope's rows: the scope walk; a rare word in a busy
    channel: the matches walk. Few scope ids over a long range: their own index;
    a rare word over a short one: read its matches there."""
    costs = search._Costs(density=0.1, archive_span=1_000_000, query_us=40)
    assert costs.scope_walk_is_cheaper(scope_rows=1_000)  # a quiet user, a common word
    rare = search._Costs(density=0.0001, archive_span=1_000_000, query_us=40)
    assert not rare.scope_walk_is_cheaper(scope_rows=300_000)  # a busy channel, a rare word
    assert costs.own_index_is_cheaper(ids=10, span=100_000)
    assert not rare.own_index_is_cheaper(ids=1_000, span=1_000)


def test_the_scope_index_matches_as_the_search_index_does(store):
    """_matches_among copies rows into a small FTS5 table: with the search
    index's tokenizer it finds exactly what the search index finds (case,
    diacritics, prefixes, phrases, exclusions, a notice's system text)."""
    if connection.vendor != "sqlite":
        pytest.skip("the FTS5 index is SQLite's")
    with connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [search.FTS_TABLE])
        assert f"tokenize='{search.SCOPE_FTS_TOKENIZER}'" in cursor.fetchone()[0]
    texts = ["Straße SPEEDRUN", "strasse speed", "ñandú café", "nandu cafe", "world record pb",
             "a world record", "Привет чат", "привет", "KEKW lol", "lolol"]  # fmt: skip
    store(*[chat(text=t) for t in texts],
          chat(text="", kind=4, system_text="alice subscribed for 12 months"))  # fmt: skip
    ids = list(Message.objects.values_list("id", flat=True))
    queries = ["straße", "speed*", "nandu", "café", '"world record" -pb', "привет", "LOL",
               "lol*", "subscribed", "months -alice", "zzz"]  # fmt: skip
    for query in queries:
        expression = search.fts5_query(query)
        assert sorted(search._matches_among(expression, ids)) == sorted(matching_ids(query)), query


@pytest.mark.parametrize("budget, more", [(4, 0), (4, 1_000), (1_000, 0)])  # of 300 rows
def test_the_postgresql_plan_walks_a_budget_then_asks_the_index(corpus, monkeypatch, budget, more):
    """PostgreSQL: the newest rows are tested up to a budget, and further when
    it found part of a page, then the text index answers for the rest; pages
    agree with the planner's, in both directions, with filters (SQLite answers
    these through the same function's plain query)."""
    monkeypatch.setattr(search, "PG_WALK_ROWS", budget)
    monkeypatch.setattr(search, "PG_WALK_MORE", more)
    for filters in ({}, {"user__username": "bob"}, {"channel__name": "xqc"}):
        qs = Message.objects.filter(**filters)
        for query in ("boss", "speed*", "lol -gg", '"world record"', "pineapple"):
            expected = matching_ids(query, **filters)
            found = search._planned_matches(qs, query, 20, None, None, True, None)
            assert [m.id for m in found] == expected[:20], (query, filters)
            if expected:
                older = search._planned_matches(qs, query, 20, expected[0], None, True, None)
                assert [m.id for m in older] == expected[1:21]
                newer = search._planned_matches(qs, query, 7, None, min(expected), False, None)
                assert [m.id for m in newer] == sorted(expected)[1:8]


@pytest.mark.parametrize("window_lines, asks_the_index", [(60, False), (10_000, True)])
def test_the_postgresql_plan_walks_a_short_time_window_to_its_end(
    corpus, monkeypatch, window_lines, asks_the_index
):
    """A time window that holds no more lines than the walk's budgets is walked
    to its end, even when the budget found too few matches to say where the
    rest lies: the text index would list the term's matches in the whole
    archive. A longer window still ends at the index. Pages agree either way."""
    monkeypatch.setattr(search, "PG_WALK_ROWS", 4)
    monkeypatch.setattr(search, "PG_WALK_MORE", 100)
    monkeypatch.setattr(search, "_has_rare_term", lambda query: False)  # common words all
    asked = []
    real = search.matching
    monkeypatch.setattr(search, "matching", lambda *a: asked.append(a[1]) or real(*a))
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    low, high, lines = ActivityBucket.objects.window(since, until)
    assert lines == 66  # the second hour of the corpus: 60 lines a minute apart, 6 decoys
    window = {"sent_at__gte": since, "sent_at__lt": until}
    for query in ("world", '"boss fight"', "lol -gg"):
        expected = matching_ids(query, **window)[:20]
        asked.clear()
        found = search._planned_matches(
            Message.objects.all(), query, 20, None, None, True, (low, high), window_lines
        )
        assert [m.id for m in found] == expected, query
        if connection.vendor == "postgresql":
            assert bool(asked) == asks_the_index, query


def test_the_postgresql_walk_prefilter_loses_no_match(store):
    """The walk's substring prefilter only skips lines to_tsvector would not
    match: case, hyphens, underscores, URLs, LIKE's own wildcards, letters
    outside ASCII (and the two that fold into it), a notice's system text,
    prefixes and phrases."""
    if connection.vendor != "postgresql":
        pytest.skip("the walk and its prefilter are PostgreSQL's")
    texts = ["BOSS-Fight tonight", "boss_fight", "see https://Example.com/Boss?x=1",
             "100% real_deal", "100 percent", "Straße SPEEDRUN", "ñandú café", "Привет чат",
             "world record pb", "a WORLD  record!", "lol", "mail a_b@example.org",
             r"run C:\Games\boss.exe", r"/usr/local/bin\x", "İSTANBUL \u212aelvin"]  # fmt: skip
    store(*[chat(text=t, sent_at=T0 + timedelta(minutes=n)) for n, t in enumerate(texts)],
          chat(text="", kind=4, system_text="Alice subscribed for 12 months"))  # fmt: skip
    queries = ["boss", "fight", '"boss fight"', "boss_fight", "example.com", "100%",
               "real_deal", "straße", "speed*", "ñandú", "привет", '"world record" -pb',
               "subscribed", "months -alice", "x=1", "a_b@example.org", r"C:\Games\boss.exe",
               r"/usr/local/bin\x", "istanbul", "kelvin", "zzz"]  # fmt: skip
    for query in queries:
        found, edge = search._pg_walk(Message.objects.all(), query, 50, True, 1_000)
        assert [m.id for m in found] == matching_ids(query), query
        assert edge is None


def test_the_postgresql_plan_asks_the_index_first_for_a_rare_word(corpus):
    """A word the search index's statistics do not list among the common ones
    is looked up in the index at once, not walked for; the pages agree."""
    if connection.vendor != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messages_app_message")
    search._common_cache.clear()
    assert search._has_rare_term("pineapple") and search._has_rare_term("boss pineapple")
    assert not search._has_rare_term("boss") and not search._has_rare_term('"world record"')
    assert not search._has_rare_term("pine*")  # a prefix may stand for common words
    for query in ("pineapple", "boss pineapple", "boss", "lol -pineapple"):
        found = search._planned_matches(Message.objects.all(), query, 20, None, None, True, None)
        assert [m.id for m in found] == matching_ids(query)[:20], query
