"""Twitch message ids as 16 bytes on SQLite.

A message id is a UUID in its canonical text form (36 characters, lower
case). Stored as text it took 37 bytes in the row and as much again in the
unique index on it; as its 16 bytes, 17 in each (docs/perf.md, "Storage").
SQLite keeps a BLOB in a text column as it is, so any id that is not in that
form (the stable ids writes.py makes for CLEARMSG and CLEARCHAT, an imported
line's own) stays text, and both kinds live in one column and one index.

The ORM converts both ways (TwitchIdField); the write path's own SQL calls
`pack` on the ids it sends (`for_db`) and `unpack` on those it reads.
PostgreSQL keeps its text column as it is.
"""

from __future__ import annotations

from django.db import models

from messages_app import batch_sql as sql


def pack(value):
    """A canonical UUID's 16 bytes; any other value as it is."""
    if type(value) is not str or len(value) != 36:
        return value
    if not value[8] == value[13] == value[18] == value[23] == "-":
        return value
    digits = value[:8] + value[9:13] + value[14:18] + value[19:23] + value[24:]
    try:
        packed = bytes.fromhex(digits)
    except ValueError:
        return value
    return packed if packed.hex() == digits else value  # not upper case, no spaces


def unpack(value):
    """The text form of a value that `pack` made; any other value as it is."""
    if type(value) is memoryview:
        value = bytes(value)
    if type(value) is not bytes or len(value) != 16:
        return value
    d = value.hex()
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:]}"


# SQLite indexes a message's Twitch id by its first 4 bytes (migration 0024):
# a lookup names this key, then compares the whole id.
PREFIX_SQL = "substr(twitch_id, 1, 4)"


def prefix(packed):
    """The index key of an id as SQLite stores it (`pack`'s value): its first
    4 bytes, or characters for an id kept as text, as substr counts them."""
    return None if packed is None else packed[:4]


def lookup_sql(ids: list, column: str = "twitch_id", mark: str = "%s") -> tuple[str, list]:
    """SQLite: `column` is one of these packed ids, through the prefix index
    (`mark`: the placeholder, "?" on a raw sqlite3 cursor)."""
    marks = ", ".join([mark] * len(ids))
    key = PREFIX_SQL.replace("twitch_id", column)
    # `+column`: given `column = ?`, SQLite puts the value in place of the
    # column everywhere (constant propagation), the key becomes a constant,
    # and the index is no longer used: a scan of every line.
    return f"{key} IN ({marks}) AND +{column} IN ({marks})", [*map(prefix, ids), *ids]


def for_db(value):
    """`value` as the write path's SQL sends it to this database."""
    return pack(value) if sql.vendor() == "sqlite" else value


class TwitchIdField(models.CharField):
    """A CharField whose UUIDs SQLite stores as 16 bytes (see the module).
    Lookups that compare values (exact, in, ...) work; pattern lookups
    (contains, endswith, iexact) see bytes on SQLite and do not match."""

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        return pack(value) if connection.vendor == "sqlite" else value

    def from_db_value(self, value, expression, connection):
        return unpack(value)
