"""Full-text search over message text, one function for SQLite and PostgreSQL.

SQLite: an FTS5 table with external content, kept in step by triggers (see
migrations 0002 and 0006). PostgreSQL: a GIN index on to_tsvector('simple',
text || ' ' || system_text). Both cover a notice's system text too.
User input never reaches either query language raw: on SQLite every term is
re-quoted as an FTS5 string, on PostgreSQL websearch_to_tsquery parses it and
never raises. So any query string gives results or an empty list.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import BooleanField, F
from django.db.models.expressions import RawSQL

from messages_app.models import MessageQuerySet

FTS_TABLE = "messages_app_message_fts"
MESSAGE_TABLE = "messages_app_message"
MAX_QUERY_LENGTH = 200
MAX_TERMS = 16
TERM_RE = re.compile(r'(-?)"([^"]*)"|(\S+)')
WORD_RE = re.compile(r"\w", re.UNICODE)


def parse_terms(query: str) -> list[tuple[str, bool, bool]]:
    """Split a search box string into (text, negated, prefix) terms.

    Supports "quoted phrases", -excluded terms and prefix* terms. Terms with no
    letter or digit are dropped: the tokenizer would find nothing in them.
    """
    terms = []
    # NUL ends an FTS5 string early ("unterminated string") and PostgreSQL text
    # cannot hold it; no word contains it.
    query = query[:MAX_QUERY_LENGTH].replace("\x00", " ")
    for match in TERM_RE.finditer(query):
        negated, phrase, word = match.group(1) == "-", match.group(2), match.group(3)
        prefix = False
        if word is not None:
            negated = word.startswith("-") and len(word) > 1
            word = word[1:] if negated else word
            prefix = word.endswith("*")
            phrase = word.rstrip("*")
        if phrase and WORD_RE.search(phrase):
            terms.append((phrase, negated, prefix))
    return terms[:MAX_TERMS]


def fts5_query(query: str) -> str | None:
    """A safe FTS5 MATCH expression for the user's query, or None if it has no terms."""
    positive, negative = [], []
    for text, negated, prefix in parse_terms(query):
        quoted = '"' + text.replace('"', '""') + '"' + ("*" if prefix else "")
        (negative if negated else positive).append(quoted)
    if not positive:
        return None
    expression = " AND ".join(positive)
    for term in negative:
        expression = f"({expression}) NOT {term}"
    return expression


def postgres_tsquery(query: str) -> tuple[str, list[str]] | None:
    """A tsquery expression and its parameters, built from the parsed terms.

    Phrases go through phraseto_tsquery, which accepts any text; prefix terms
    through to_tsquery with nothing but word characters and ':*'.
    """
    terms = parse_terms(query)
    if not any(not negated for _text, negated, _prefix in terms):
        return None
    parts, params = [], []
    for text, negated, prefix in terms:
        words = re.findall(r"\w+", text)
        if prefix and words:
            parts.append("to_tsquery('simple'::regconfig, %s)")
            params.append(" <-> ".join(words) + ":*")
        else:
            parts.append("phraseto_tsquery('simple'::regconfig, %s)")
            params.append(text)
        if negated:
            parts[-1] = "!!" + parts[-1]
    return " && ".join(parts), params


def matching(messages: MessageQuerySet, query: str) -> MessageQuerySet:
    """Narrow a message queryset to full-text matches of `query` (newest first is
    the caller's ordering: rank ordering over a common word costs seconds)."""
    if connection.vendor == "postgresql":
        if postgres_tsquery(query) is None:
            return messages.none()
        sql, params = _pg_condition(query, MESSAGE_TABLE)
        return messages.filter(RawSQL(sql, params, output_field=BooleanField()))
    expression = fts5_query(query)
    if expression is None:
        return messages.none()
    ids = RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s", [expression])
    return messages.filter(id__in=ids)


def highlight_terms(query: str) -> list[str]:
    """The words to highlight in results (positive terms only)."""
    return [text for text, negated, _prefix in parse_terms(query) if not negated]


# How many FTS matches newest_matches() walks before it hands the rest to one
# planned query; FTS5 yields about a million matches a second in rowid order.
WALK_BUDGET = 4_200
FIRST_CHUNK = 200
# A scope of at most this many rows (a quiet user) is tested at once, in a
# small index of its own rows (_matches_among: 1-2 ms), where the planned query
# lists every match of the term (45-200 ms on 10 million messages, docs/perf.md).
FEW_ROWS = 250


def newest_matches(
    messages: MessageQuerySet,
    query: str,
    limit: int,
    *,
    before: int | None = None,
    after: int | None = None,
    newest_first: bool = True,
    id_range: tuple[int, int] | None = None,
    expected_share: float | None = None,
    scope_rows: int | None = None,
    window_lines: int | None = None,
) -> list:
    """Up to `limit` messages of `messages` matching `query`, in id order (newest
    first unless `newest_first` is False); `before`/`after` are exclusive id
    bounds, `id_range` inclusive ones (from ActivityBucket.window, with
    `window_lines`, about how many lines that time window holds).

    Why not `matching(...).order_by("-id")[:limit]`: on SQLite that plan
    collects every matching rowid first and then, with a user or channel
    filter, probes the (user, id) index once per match: 30 ms for a common word
    on a million messages, 130 ms with a user filter. FTS5 hands out rowids in
    order with `ORDER BY rowid DESC` and stops at LIMIT (under a millisecond for
    a page), so this walks the index in growing chunks and keeps the ids that
    pass the other filters, by primary key, until the page is full.

    When the other filters are narrow (`expected_share`: the caller's estimate
    of the fraction of messages they keep, from the counters) walking would
    read too many matches; past WALK_BUDGET, or at once when the share says so,
    one planned query finishes the page: the filtered rows in id order, each
    tested against the materialized match list (`+id IN (...)` keeps SQLite
    from turning that list into index probes). That costs about the time to
    list every match of the query, 25-30 ms for the most common word on a
    million messages, ten times that on ten million. So a scope the counters
    say is small (`scope_rows`: a quiet user) is read first, by its index,
    and its rows tested against the index in one query (_few_rows_matches).
    With a user or channel filter, the first chunk of matches also decides
    whether to walk the scope's own index instead (_Costs, _scope_walk).
    """
    expression = fts5_query(query) if connection.vendor == "sqlite" else None
    if expression is None:
        return _planned_matches(
            messages, query, limit, before, after, newest_first, id_range, window_lines
        )
    low, high = after, before
    if id_range is not None:
        low = id_range[0] - 1 if low is None else max(low, id_range[0] - 1)
        high = id_range[1] + 1 if high is None else min(high, id_range[1] + 1)
    if scope_rows is not None and scope_rows <= FEW_ROWS:
        found = _few_rows_matches(messages, expression, limit, low, high, newest_first)
        if found is not None:
            return found
    if scope_rows and _has_prefix(query):
        # Every query of a prefix term expands it anew (30 ms on 10M messages):
        # the scope's ids are tested in their own small index, not in the big one.
        costs = _Costs(0.0, 1, PREFIX_QUERY_US)
        return _scope_walk(messages, expression, limit, low, high, newest_first, costs)
    found: list = []
    chunk, walked = max(FIRST_CHUNK, limit * 2), 0
    if _too_narrow(expected_share, limit) and not scope_rows:
        walked = WALK_BUDGET  # too narrow to walk: plan it at once
    order = "DESC" if newest_first else "ASC"
    table = messages.model._meta.db_table
    with connection.cursor() as cursor:
        while len(found) < limit:
            if walked >= WALK_BUDGET:
                found += _filtered_matches(
                    messages, expression, limit - len(found), low, high, order
                )
                break
            sql, params = _fts_rowids(expression, low, high)
            cursor.execute(f"{sql} ORDER BY rowid {order} LIMIT %s", [*params, chunk])
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            # One JSON parameter instead of thousands: Django prepares each
            # parameter of `id__in=[...]` in Python, which costs more than the query.
            in_chunk = RawSQL(
                f'"{table}"."id" IN (SELECT value FROM json_each(%s))',
                [json.dumps(ids)],
                BooleanField(),
            )
            page = list(
                messages.filter(in_chunk).order_by("-id" if newest_first else "id")[
                    : limit - len(found)
                ]
            )
            found += page
            if len(ids) < chunk:
                break  # no more matches in range
            if walked == 0 and scope_rows and len(found) < limit:
                costs = _Costs.of(query, ids, low if not newest_first else high)
                if costs.scope_walk_is_cheaper(scope_rows):
                    bound = (low, ids[-1]) if newest_first else (ids[-1], high)
                    return found + _scope_walk(
                        messages, expression, limit - len(found), *bound, newest_first, costs
                    )
                if _too_narrow(expected_share, limit):
                    walked = WALK_BUDGET
            if newest_first:
                high = ids[-1]
            else:
                low = ids[-1]
            walked += len(ids)
            # Size the next chunk from the hit rate seen so far, with a margin.
            rate = max(len(found), 1) / walked
            wanted = int((limit - len(found)) / rate * 1.25) + FIRST_CHUNK
            chunk = max(1, min(wanted, WALK_BUDGET - walked))
    return found[:limit]


def _too_narrow(expected_share: float | None, limit: int) -> bool:
    return expected_share is not None and limit / max(expected_share, 1e-9) > WALK_BUDGET


# What reading matches costs on SQLite, in microseconds (measured on the 10M
# archive, docs/perf.md): an FTS query's set-up, testing one id in the scope's
# own small index (_matches_among; against the big one, `rowid IN (...)`
# costs 28 us for a word, 60 for a phrase), reading one match in rowid order,
# testing one match against the other filters by primary key, reading one id
# from a scope's index.
QUERY_US, OWN_INDEX_US, SCAN_US, PK_US, INDEX_US = 60.0, 6.0, 0.2, 1.5, 0.1
# FTS5 expands a prefix term anew for every query: it merges the doclists of
# every word with that prefix (30 ms for `speed*` on 10M messages).
PREFIX_QUERY_US = 30_000.0
SCOPE_FTS = "goknut_scope_fts"  # a temporary table, one per database connection
SCOPE_FTS_TOKENIZER = "unicode61 remove_diacritics 2"  # the search index's (migration 0016)


@dataclass
class _Costs:
    """The cost figures of one query, and how dense its matches are."""

    density: float  # matches per unit of id (a microsecond: ids are times)
    archive_span: int  # newest id - oldest id
    query_us: float

    @classmethod
    def of(cls, query: str, ids: list[int], bound: int | None) -> _Costs:
        """From the first chunk of matches the walk read (`bound`: where it began)."""
        edge = ids[0] if bound is None else bound
        density = len(ids) / max(abs(edge - ids[-1]), 1)
        with connection.cursor() as cursor:
            table = MESSAGE_TABLE
            cursor.execute(f"SELECT (SELECT min(id) FROM {table}), (SELECT max(id) FROM {table})")
            oldest, newest = cursor.fetchone()
        setup = PREFIX_QUERY_US if _has_prefix(query) else QUERY_US
        return cls(density, newest - oldest, setup)

    def scope_walk_is_cheaper(self, scope_rows: int) -> bool:
        """Per microsecond of history walked, both ways find the same rows: the
        matches walk reads every match and tests it by primary key; the scope
        walk reads the scope's ids and tests them against the matches."""
        scope_density = scope_rows / max(self.archive_span, 1)
        matches_walk = self.density * (SCAN_US + PK_US)
        scope_walk = scope_density * INDEX_US + min(
            self.density * SCAN_US, scope_density * OWN_INDEX_US
        )
        return scope_walk < matches_walk

    def own_index_is_cheaper(self, ids: int, span: int) -> bool:
        """For `ids` of the scope over `span`: testing them in their own index,
        rather than reading the matches of that range from the big one."""
        return ids * OWN_INDEX_US < self.query_us + self.density * span * SCAN_US


def _scope_walk(messages, expression, limit, low, high, newest_first, costs: _Costs) -> list:
    """The matches among the scope's rows, read from the scope's own index (a
    user's or a channel's) in id order, a chunk at a time: each chunk of ids is
    tested in a small index of its own rows or by reading the matches of the
    chunk's id range from the search index, whichever costs less (_Costs)."""
    found: list = []
    chunk, read = max(FIRST_CHUNK, limit * 4), 0
    while len(found) < limit:
        ids = _scope_ids(messages, low, high, newest_first, chunk)
        if not ids:
            break
        start = (high if newest_first else low) or ids[0]
        if costs.own_index_is_cheaper(len(ids), abs(start - ids[-1])):
            hits = _matches_among(expression, ids)
        else:
            hits = _scan(expression, ids)
        found += _rows(messages, sorted(hits, reverse=newest_first)[: limit - len(found)])
        if len(ids) < chunk:
            break
        if newest_first:
            high = ids[-1]
        else:
            low = ids[-1]
        read += len(ids)
        rate = max(len(found), 1) / read
        chunk = max(FIRST_CHUNK, min(int((limit - len(found)) / rate * 1.25), 20_000))
    return found[:limit]


def _scope_ids(messages, low, high, newest_first, limit) -> list[int]:
    scope = messages
    if low is not None:
        scope = scope.filter(id__gt=low)
    if high is not None:
        scope = scope.filter(id__lt=high)
    return list(
        scope.order_by("-id" if newest_first else "id").values_list("id", flat=True)[:limit]
    )


def _matches_among(expression: str, ids: list[int]) -> list[int]:
    """The ids whose text matches, found by copying their rows into a small
    temporary FTS5 table with the search index's tokenizer and matching there:
    the same answer as the search index gives (the same tokens), for 5 us an id
    on the 10M archive, where testing each id in the search index costs 28-60
    us, and 30 ms with a prefix term (FTS5 expands it for every test)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{SCOPE_FTS} USING fts5(text,"
            f" system_text, tokenize='{SCOPE_FTS_TOKENIZER}', columnsize=0)"
        )
        cursor.execute(f"DELETE FROM temp.{SCOPE_FTS}")
        cursor.execute(
            f"INSERT INTO temp.{SCOPE_FTS} (rowid, text, system_text)"
            f" SELECT id, text, system_text FROM {MESSAGE_TABLE}"
            " WHERE id IN (SELECT value FROM json_each(%s))",
            [json.dumps(ids)],
        )
        cursor.execute(
            f"SELECT rowid FROM temp.{SCOPE_FTS} WHERE {SCOPE_FTS} MATCH %s", [expression]
        )
        return [row[0] for row in cursor.fetchall()]


def _scan(expression: str, ids: list[int]) -> list[int]:
    """The ids that match, by reading the matches in their id range once."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT value FROM json_each(%s) WHERE value IN (SELECT rowid FROM {FTS_TABLE}"
            f" WHERE {FTS_TABLE} MATCH %s AND rowid >= %s AND rowid <= %s)",
            [json.dumps(ids), expression, min(ids), max(ids)],
        )
        return [row[0] for row in cursor.fetchall()]


def _rows(messages, ids: list[int]) -> list:
    """The messages with these ids that the queryset keeps, in the order given."""
    rows = {m.id: m for m in messages.filter(id__in=ids)}
    return [rows[i] for i in ids if i in rows]


def _has_prefix(query: str) -> bool:
    return any(prefix for _text, _negated, prefix in parse_terms(query))


def _few_rows_matches(messages, expression, limit, low, high, newest_first) -> list | None:
    """The matches among the scope's rows in (low, high), if it has at most
    FEW_ROWS there; None if it has more (the counters were behind)."""
    ids = _scope_ids(messages, low, high, True, FEW_ROWS + 1)
    if len(ids) > FEW_ROWS:
        return None
    if not ids:
        return []
    hits = sorted(_matches_among(expression, ids), reverse=newest_first)[:limit]
    return _rows(messages, hits)


def _fts_rowids(expression: str, low: int | None, high: int | None) -> tuple[str, list]:
    sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
    params: list = [expression]
    if low is not None:
        sql += " AND rowid > %s"
        params.append(low)
    if high is not None:
        sql += " AND rowid < %s"
        params.append(high)
    return sql, params


def _filtered_matches(messages, expression, limit, low, high, order) -> list:
    sql, params = _fts_rowids(expression, low, high)
    table = messages.model._meta.db_table
    condition = RawSQL(f'+"{table}"."id" IN ({sql})', params, output_field=BooleanField())
    qs = messages.filter(condition)
    if low is not None:
        qs = qs.filter(id__gt=low)
    if high is not None:
        qs = qs.filter(id__lt=high)
    return list(qs.order_by("-id" if order == "DESC" else "id")[:limit])


def _planned_matches(
    messages, query, limit, before, after, newest_first, id_range, window_lines=None
) -> list:
    """PostgreSQL (and queries without terms).

    Left to itself, PostgreSQL's planner walks the primary key newest first and
    tests each row's text (`ORDER BY id DESC LIMIT n`), because it cannot tell a
    rare word from a common one: a word that is not among its sampled lexemes
    gets the same small estimate. For a rare word that walk reads the whole
    table (11 s for a word in no line of 4 million). And the GIN index alone
    is no better for a common one: it yields every match unordered, and a
    phrase of two common words has every line holding both to recheck (a
    second on 10 million lines). So the walk gets a budget (_pg_walk), and the
    rest comes from the GIN index, ordered by `id + 0` so that the planner
    cannot choose the walk again: that costs in proportion to the term's
    matches, few once a budget of lines held less than a page of them. A term
    the statistics call rare goes to the index at once (_has_rare_term). A
    time window short enough (`window_lines`) is walked to its end instead:
    the index lists a common term's matches of the whole archive, not of the
    window (the bitmap of the phrase "boss fight" alone took 65 ms on 3.5
    million lines, and grows with the archive; an hour does not)."""
    qs = messages
    if before is not None:
        qs = qs.filter(id__lt=before)
    if after is not None:
        qs = qs.filter(id__gt=after)
    if id_range is not None:
        qs = qs.filter(id__gte=id_range[0], id__lte=id_range[1])
    order = "-id" if newest_first else "id"
    if connection.vendor != "postgresql":
        return list(matching(qs, query).order_by(order)[:limit])
    by_index = (F("id") + 0).desc() if newest_first else (F("id") + 0).asc()
    if _has_rare_term(query):
        return list(matching(qs, query).order_by(by_index)[:limit])
    found, edge = _pg_walk(qs, query, limit, newest_first, PG_WALK_ROWS)
    more = _further_walk(len(found), limit)
    if window_lines is not None and window_lines <= PG_WALK_ROWS + PG_WALK_MORE:
        more = PG_WALK_MORE  # the rest of the window, which ends the walk sooner
    if edge is not None and more:
        qs = _beyond(qs, edge, newest_first)
        further, edge = _pg_walk(qs, query, limit - len(found), newest_first, more)
        found += further
    if len(found) == limit or edge is None:
        return found
    qs = _beyond(qs, edge, newest_first)
    return found + list(matching(qs, query).order_by(by_index)[: limit - len(found)])


# The walk's budget: lines of the scope tested newest first. With the prefilter
# a line costs about 0.4 us, so 20 ms at most; a page of a term in 0.1% of lines
# comes from it. When the budget found part of a page, the hit rate says how far
# the rest lies: up to PG_WALK_MORE lines more are walked, not the GIN index
# (whose every candidate line is rechecked: 0.7 s for a phrase of two common
# words on 10 million lines).
PG_WALK_ROWS = 50_000
PG_WALK_MORE = 200_000


def _further_walk(found: int, limit: int) -> int:
    """How many more lines to walk after the budget found `found` of `limit`
    matches (0: none, or too few to say the rest is near; the index answers)."""
    if found == 0 or found >= limit:
        return 0
    wanted = int((limit - found) * PG_WALK_ROWS / found * 1.5) + 1_000
    return wanted if wanted <= PG_WALK_MORE else 0


def _beyond(qs, edge: int, newest_first: bool):
    return qs.filter(id__lt=edge) if newest_first else qs.filter(id__gt=edge)


def _pg_walk(qs, query: str, limit: int, newest_first: bool, budget: int):
    """The first `limit` matches among the newest `budget` lines of qs, in one
    query that stops at the page; and the id the walk stopped at when it read
    the whole budget without filling the page (None: nothing lies beyond).

    Each line is tested by a substring prefilter before to_tsvector (which
    costs 3 us a line): a line can only match if, lowercased, it holds every
    lexeme of the positive terms (_prefilter)."""
    order = "-id" if newest_first else "id"
    direction = "DESC" if newest_first else "ASC"
    scope = qs.order_by(order).values("id", "text", "system_text")[:budget]
    try:
        scope_sql, scope_params = scope.query.sql_with_params()
    except EmptyResultSet:  # messages.none()
        return [], None
    condition, params = _pg_condition(query, "w")
    prefilter, prefilter_params = _prefilter(query, "w")
    if prefilter:
        condition = f"{prefilter} AND {condition}"
        params = [*prefilter_params, *params]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.id FROM ({scope_sql}) w WHERE {condition}"
            f" ORDER BY w.id {direction} LIMIT %s",
            [*scope_params, *params, limit],
        )
        ids = [row[0] for row in cursor.fetchall()]
    # The page's rows by their ids, in a query of their own: joined to the walk,
    # the planner expects thousands of rows and hashes whole user and tag tables.
    among = RawSQL(f'"{MESSAGE_TABLE}"."id" = ANY(%s)', [ids], BooleanField())
    found = list(qs.filter(among).order_by(order)) if ids else []
    if len(found) == limit:
        return found, None
    edge = qs.order_by(order).values_list("id", flat=True)[budget - 1 : budget]
    return found, (edge[0] if edge else None)


def _pg_condition(query: str, table: str) -> tuple[str, list]:
    """The text condition of `query` on `table`'s text and system text, in the
    form of the GIN index's expression (migration 0002)."""
    tsquery = postgres_tsquery(query)
    if tsquery is None:
        return "FALSE", []
    sql, params = tsquery
    document = f"to_tsvector('simple'::regconfig, {table}.text || ' ' || {table}.system_text)"
    return f"{document} @@ ({sql})", params


def _prefilter(query: str, table: str) -> tuple[str, list]:
    """A cheap condition every line matching `query` passes: it holds each
    lexeme of the positive terms as a substring, lowercased (PostgreSQL's own
    parser finds them, as for the index; a lexeme is a lowercased piece of the
    line). Its text is read alone when the line has no system text (most do).

    ASCII lexemes are looked for in `lower(... COLLATE "C")`, which folds ASCII
    letters only and costs a fifth of the locale's lower(): only two other
    letters fold into ASCII (U+0130 to i, the Kelvin sign to k), so i and k
    match any one character. Other lexemes go through the locale's lower(),
    when it folds as the text search dictionary does."""
    lexemes = sorted({lexeme for found, _prefix in _lexemes(query) for lexeme in found})
    if not lexemes:
        return "", []
    ascii_patterns = [_like(lexeme).replace("i", "_").replace("k", "_")
                      for lexeme in lexemes if lexeme.isascii()]  # fmt: skip
    other_patterns = [_like(lexeme) for lexeme in lexemes if not lexeme.isascii()]
    if not _folds_as_text_search():
        other_patterns = []
    parts, params = [], []
    folds = (('lower({} COLLATE "C")', ascii_patterns), ("lower({})", other_patterns))
    for fold, patterns in folds:
        if patterns:
            parts.append(f"{fold} LIKE ALL (%s)")
            params.append(patterns)
    if not parts:
        return "", []
    test = " AND ".join(parts)
    alone = test.replace("{}", f"{table}.text")
    joined = test.replace("{}", f"({table}.text || ' ' || {table}.system_text)")
    return (
        f"(CASE WHEN {table}.system_text = '' THEN {alone} ELSE {joined} END)",
        [*params, *params],
    )


@functools.lru_cache(maxsize=1024)
def _lexemes(query: str) -> tuple[tuple[tuple[str, ...], bool], ...]:
    """The lexemes of each positive term of `query`, by PostgreSQL's own parser
    (as the index has them), with whether the term is a prefix. The 'simple'
    configuration maps a text to the same lexemes in every database."""
    terms = [(text, prefix) for text, negated, prefix in parse_terms(query) if not negated]
    if not terms:
        return ()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tsvector_to_array(to_tsvector('simple'::regconfig, t))"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            [[text for text, _prefix in terms]],
        )
        found = [row[0] for row in cursor.fetchall()]
    return tuple(
        (tuple(lexemes), prefix) for lexemes, (_text, prefix) in zip(found, terms, strict=True)
    )


def _has_rare_term(query: str) -> bool:
    """Whether a positive whole-word term of `query` has a lexeme the planner's
    statistics of the search index do not list among its most common ones
    (about the 1,000 most common of its sample of 30,000 lines): then the term
    is in few lines, and the GIN index lists them at once, where the walk
    would read its whole budget to find none (a word in no line: 30 ms). Prefix
    terms are left out, and so is everything while no statistics exist."""
    common = _common_lexemes()
    if common is None:
        return False
    return any(
        lexeme not in common
        for lexemes, prefix in _lexemes(query)
        if not prefix
        for lexeme in lexemes
    )


COMMON_LEXEMES_TTL_S = 300.0  # statistics change when autovacuum analyzes, not per query
_common_cache: dict[str, tuple[float, frozenset[str] | None]] = {}


def _common_lexemes() -> frozenset[str] | None:
    """The most common lexemes of the search index by its statistics, over
    every partition (None when none has statistics yet); cached a few minutes."""
    key = connection.settings_dict["NAME"]
    cached = _common_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < COMMON_LEXEMES_TTL_S:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT s.most_common_elems::text::text[] FROM pg_stats s
               WHERE s.schemaname = current_schema() AND s.attname = 'to_tsvector'
                 AND s.most_common_elems IS NOT NULL
                 AND (s.tablename = %s OR s.tablename IN (
                     SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = to_regclass(%s)))""",
            [SEARCH_INDEX, SEARCH_INDEX],
        )
        rows = cursor.fetchall()
    common = frozenset(lexeme for (elems,) in rows for lexeme in elems) if rows else None
    _common_cache[key] = (time.monotonic(), common)
    return common


SEARCH_INDEX = "message_text_search_idx"  # PostgreSQL's GIN index (migration 0002)


def _like(lexeme: str) -> str:
    """A LIKE pattern for a substring: the lexeme, its wildcards escaped."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", lexeme) + "%"


@functools.cache
def _folds_as_text_search() -> bool:
    """Whether lower() folds every letter as the text search dictionary does:
    both call the C library's towlower() unless the database's default
    collation is ICU's (PostgreSQL 15+), whose lower() maps some letters
    otherwise (a final sigma, a dotted I). Under ICU only ASCII lexemes are
    prefiltered (_prefilter)."""
    if connection.pg_version < 150000:
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT datlocprovider FROM pg_database WHERE datname = current_database()")
        return cursor.fetchone()[0] == "c"
