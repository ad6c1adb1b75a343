"""SQL helpers of the write path (messages_app/writes.py): one cursor per
batch on the driver's own API, multi-row statements for SQLite and PostgreSQL.

Kept apart from writes.py so that it reads as what is stored and announced;
these are the how. The figures behind each choice are in docs/perf.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache

import orjson
from django.db import connection

MAX_ROWS_PER_STATEMENT = 1000  # 7 parameters a row stays under SQLite's 32,766.


@contextmanager
def write_cursor():
    """The cursor of a batch: the driver's own, on Django's connection and in its
    transaction, with errors still raised as Django's (the pipeline retries
    OperationalError). django-prometheus does not count these statements.

    SQLite: a plain sqlite3 cursor and `?` placeholders. Django's cursor turns
    every `%s` into `?` with a regular expression and wraps each call twice
    (its own and django-prometheus's), a measurable share of a small batch
    (docs/perf.md, "Why the write path is written this way").
    PostgreSQL: a psycopg cursor with server-side binding. Django's cursors
    bind on the client, so psycopg rendered every value into the SQL text,
    arrays through a Python quoting loop: most of a 1,000-row batch's time.
    Here the column arrays go in psycopg's binary format (`%b`, see unnest).
    """
    connection.ensure_connection()
    if vendor() == "postgresql":
        import psycopg

        cursor = psycopg.Cursor(connection.connection)
    else:
        cursor = connection.connection.cursor()
    with connection.wrap_database_errors:
        try:
            yield cursor
        finally:
            cursor.close()


@cache
def vendor() -> str:
    """`connection.vendor`, looked up once: the settings fix it for the process,
    and every access of `connection` goes through a context-local proxy that
    costs microseconds (dozens of them a batch were 5% of the write path)."""
    return connection.vendor


@cache
def table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def json_text(value) -> str:
    """A JSON column's value as compact text (orjson: several times faster than
    the json module, and no spaces after separators to store). Values orjson
    refuses (an integer beyond 64 bits in an imported line) go through json."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_adapter():
    """The function that turns a dict into a JSON column's query parameter."""
    if vendor() == "sqlite":
        return json_text
    from psycopg.types.json import Jsonb

    return lambda value: Jsonb(value, dumps=json_text)


def later(table: str, column: str) -> str:
    """The later of the stored and the incoming value (NULL-safe, both databases)."""
    return (
        f"CASE WHEN {table}.{column} IS NULL OR excluded.{column} > {table}.{column} "
        f"THEN excluded.{column} ELSE {table}.{column} END"
    )


def earlier(table: str, column: str) -> str:
    return (
        f"CASE WHEN {table}.{column} IS NULL OR excluded.{column} < {table}.{column} "
        f"THEN excluded.{column} ELSE {table}.{column} END"
    )


def sqlite_datetime(value: datetime) -> str:
    # What Django's adapter stores for a UTC value ("YYYY-MM-DD HH:MM:SS[.ffffff]"),
    # without its time zone arithmetic, a large share of the write path's time.
    return value.isoformat(" ")[:-6]  # drop "+00:00": _clean made every value UTC


def datetime_adapter():
    """The function that turns a UTC datetime into a query parameter.

    Looked up once per statement.
    """
    if vendor() == "sqlite":
        return sqlite_datetime
    return lambda value: value


def chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def values_sql(rows: Sequence[tuple]) -> str:
    """SQLite: a multi-row VALUES list in the driver's own placeholders."""
    row = "(" + ", ".join(["?"] * len(rows[0])) + ")"
    return "VALUES " + ", ".join([row] * len(rows))


def unnest(rows: Sequence[tuple], types: Sequence[str]) -> tuple[str, list]:
    """PostgreSQL: the rows as one array per column, `SELECT * FROM unnest(...)`.

    With one placeholder a column instead of one a value, psycopg does not
    split and quote a statement of 7,000 placeholders (the query text of a
    1,000-row VALUES list is too long for its cache), and the server parses a
    short statement (less than half the time of a 1,000-row batch, docs/perf.md). Rows come
    out of unnest in array order, so ids are still assigned in record order.
    """
    arrays = ", ".join(f"%b::{kind}[]" for kind in types)
    return f"SELECT * FROM unnest({arrays})", [list(column) for column in zip(*rows, strict=True)]


def execute_rows(cursor, sql: str, rows: list[tuple], types: Sequence[str]) -> None:
    """Run an INSERT that returns nothing for every row.

    SQLite: executemany of the one-row statement, prepared once, where a multi-row
    statement would be prepared anew for every row count. PostgreSQL: one
    statement of column arrays (unnest).
    """
    if vendor() == "sqlite":
        cursor.executemany(sql.format(rows=values_sql(rows[:1])), rows)
    else:
        rows_sql, params = unnest(rows, types)
        cursor.execute(sql.format(rows=rows_sql), params)


def upsert(cursor, sql: str, rows: list[tuple], types: Sequence[str]) -> list[tuple]:
    """Run a multi-row INSERT ... RETURNING; returns every returned row.

    SQLite: multi-row VALUES in chunks (parameters per statement are limited);
    PostgreSQL: one statement of column arrays (unnest)."""
    if vendor() != "sqlite":
        rows_sql, params = unnest(rows, types)
        cursor.execute(sql.format(rows=rows_sql), params)
        return cursor.fetchall()
    returned: list[tuple] = []
    for chunk in chunks(rows, MAX_ROWS_PER_STATEMENT):
        params = [value for row in chunk for value in row]
        cursor.execute(sql.format(rows=values_sql(chunk)), params)
        returned.extend(cursor.fetchall())
    return returned
