"""The OpenAPI 3.1 description of `/api` (docs/api.md, as data).

Written by hand rather than generated: the views are plain Django views with
no serializers or annotations a generator could read, and what clients need
to know (the peers' shapes, flags set by their key alone, the format chosen by
the query) is not in the code's types anyway. Python rather than YAML: no
parser to install, and the limits and lists come from the code they describe.
tests/api/test_openapi.py validates it as OpenAPI 3.1, checks that it names
every route of logs_api/urls.py, and compares real answers with it."""

from __future__ import annotations

from functools import cache

from logs_api import formats, recent, views

TEXT, JSON, NDJSON, HTML = "text/plain", "application/json", "application/x-ndjson", "text/html"

DESCRIPTION = """\
The HTTP API of the Twitch chat-log tools (justlog, rustlog and recent-messages2),
served by goknut: their web front-ends, bots and chat clients work against it unchanged.

- A channel is `channel/<login>` or `channelid/<room id>`, a user `user/<login>` or
  `userid/<user id>` (the Twitch `room-id` and `user-id`). Logins match case-insensitively;
  a renamed user is one user under the old login, the new one and the id.
- Flags (`json`, `jsonBasic`, `ndjson`, `raw`, `reverse`) are set by their key alone, whatever
  the value: `?json`, `?json=1`, even `?json=0`.
- Times are UTC. Text answers are UTF-8 (`charset=utf-8`).
- Errors are `text/plain` with a reason (recent-messages: JSON, as recent-messages2 answers):
  400 for a bad parameter (an impossible date too), 404 for an unknown channel or user or a
  day or month without lines, 403 `User or channel has opted out` wherever an opted-out user
  or channel is named.
- Every answer carries `Access-Control-Allow-Origin: *`, `X-Content-Type-Options: nosniff` and
  `x-rustlog-capabilities`; every path answers an `OPTIONS` preflight with 204.
- Log answers stream: a month of a busy channel starts at once, in bounded memory.
"""

CHANNEL_LOGS, USER_LOGS = "channel logs", "user logs"
TAGS = [
    {"name": "lists", "description": "The channels, and the days or months that have logs."},
    {"name": CHANNEL_LOGS, "description": "A channel's lines: a day, a range, a random one."},
    {"name": USER_LOGS, "description": "A user's lines in a channel: a month, a range, a search."},
    {"name": "users", "description": "Name history and opting out."},
    {"name": "recent-messages", "description": "recent-messages2's API, for chat clients."},
    {"name": "about", "description": "What this server supports, and this description."},
]

# -- examples ------------------------------------------------------------------

MESSAGE_ID = "a6d2c1e0-0000-4000-8000-000000000001"
RAW_LINE = (
    "@badge-info=;badges=;color=#FF4500;display-name=Gempir;emotes=;first-msg=0;flags=;"
    f"id={MESSAGE_ID};mod=0;returning-chatter=0;room-id=22484632;subscriber=0;"
    "tmi-sent-ts=1709287200000;turbo=0;user-id=77624902;user-type= "
    ":gempir!gempir@gempir.tmi.twitch.tv PRIVMSG #forsen :hello forsen"
)
TEXT_EXAMPLE = """\
[2024-03-01 10:00:00] #forsen gempir: hello forsen
[2024-03-01 12:30:00] #forsen ivan subscribed with Prime.
[2024-03-01 13:00:01] #forsen A message of spammer was deleted
[2024-03-01 13:00:02] #forsen spammer has been timed out for 600 seconds
"""
EXAMPLE_TAGS = {
    "color": "#FF4500",
    "display-name": "Gempir",
    "emotes": "",
    "id": MESSAGE_ID,
    "room-id": "22484632",
    "tmi-sent-ts": "1709287200000",
    "user-id": "77624902",
}
BASIC_EXAMPLE = {
    "text": "hello forsen",
    "displayName": "Gempir",
    "timestamp": "2024-03-01T10:00:00Z",
    "id": MESSAGE_ID,
    "tags": EXAMPLE_TAGS,
}
NDJSON_EXAMPLE = formats.dumps(BASIC_EXAMPLE).decode() + "\n"
FULL_EXAMPLE = {
    "text": "hello forsen",
    "systemText": "",
    "username": "gempir",
    "displayName": "Gempir",
    "channel": "forsen",
    "timestamp": "2024-03-01T10:00:00Z",
    "id": MESSAGE_ID,
    "type": 1,
    "raw": RAW_LINE,
    "tags": EXAMPLE_TAGS,
}
RECENT_LINE = RAW_LINE.replace(";flags=;", ";flags=;historical=1;").replace(
    ";room-id=", ";rm-received-ts=1709287200000;room-id="
)
CHATTER = {"userId": "77624902", "userLogin": "gempir", "messageCount": 321}
EXAMPLES = {
    "channels": {"channels": [{"userID": "22484632", "name": "forsen"}]},
    "list": {"availableLogs": [{"year": "2024", "month": "4", "day": "2"},
                               {"year": "2024", "month": "3", "day": "1"}]},
    "names": [{"user_login": "oldname", "first_timestamp": "2023-11-02T18:04:11Z",
               "last_timestamp": "2024-03-01T11:00:00Z"}],
    "recent": {"messages": [RECENT_LINE], "error": None, "error_code": None},
    "recentBad": {"status": 400, "status_message": "Bad Request",
                  "error": "Invalid or missing query parameters", "error_code": "invalid_query"},
    "recentOptedOut": {"status": 403, "status_message": "Forbidden",
                       "error": "The channel login `hidden` is excluded from this service",
                       "error_code": "channel_ignored"},
    "channelStats": {"messageCount": 1234, "topChatters": [CHATTER]},
}  # fmt: skip


# -- building blocks -----------------------------------------------------------


def ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def answer(description: str, content: dict | None = None, headers: dict | None = None) -> dict:
    """A Response object with the headers every /api answer has, and `headers`."""
    every = {
        "Access-Control-Allow-Origin": ref("headers", "AccessControlAllowOrigin"),
        "X-Content-Type-Options": ref("headers", "NoSniff"),
        "x-rustlog-capabilities": ref("headers", "Capabilities"),
    }
    response = {"description": description, "headers": {**every, **(headers or {})}}
    if content is not None:
        response["content"] = content
    return response


def json_answer(description: str, schema: dict, example=None, headers=None) -> dict:
    media = {"schema": schema} if example is None else {"schema": schema, "example": example}
    return answer(description, {JSON: media}, headers)


def errors(*statuses: int) -> dict:
    names = {400: "BadRequest", 403: "OptedOut", 404: "NotFound"}
    return {str(status): ref("responses", names[status]) for status in statuses}


def get(op_id: str, tag: str, summary: str, description: str, names, responses: dict) -> dict:
    """A path item with one GET operation; `names` are components/parameters."""
    return {"get": {
        "operationId": op_id, "tags": [tag], "summary": summary, "description": description,
        "parameters": [ref("parameters", name) for name in names], "responses": responses,
    }}  # fmt: skip


# -- parameters ----------------------------------------------------------------


def in_path(name: str, description: str, schema: dict, example) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema, "example": example}  # fmt: skip


def in_query(name: str, description: str, schema: dict | None = None, **extra) -> dict:
    return {"name": name, "in": "query", "description": description,
            "schema": schema or {"type": "string"}, **extra}  # fmt: skip


def flag(name: str, what: str) -> dict:
    return in_query(name, f"{what} Set by the key alone (`?{name}`), whatever its value.")


def integer(low: int, high: int | None = None, **extra) -> dict:
    schema = {"type": "integer", "minimum": low, **extra}
    return schema if high is None else {**schema, "maximum": high}


def parameters() -> dict:
    name = {"type": "string", "maxLength": views.MAX_SEGMENT}
    moment = {"type": "string", "maxLength": 40, "examples": ["2024-03-01T10:00:00Z", "1709287200"]}
    boolean = {"type": "boolean", "default": False}
    spelled = " `true` or `false` (also 1/0, yes/no, or the key alone); anything else is a 400."
    return {
        "channelKey": in_path(
            "channelKey", "`channel`: the next segment is a login; `channelid`: a Twitch room id.",
            {"type": "string", "enum": ["channel", "channelid"]}, "channel"),
        "channel": in_path("channel", "The channel's login or room id.", name, "forsen"),
        "userKey": in_path(
            "userKey", "`user`: the next segment is a login (a former one works too); "
            "`userid`: a Twitch user id.", {"type": "string", "enum": ["user", "userid"]}, "user"),
        "user": in_path("user", "The user's login or user id.", name, "gempir"),
        "year": in_path("year", "UTC year.", integer(2000, 9998), 2024),
        "month": in_path("month", "UTC month.", integer(1, 12), 3),
        "day": in_path("day", "UTC day; one the month lacks (Feb 30) is a 400.", integer(1, 31), 1),
        "json": flag("json", "JSON, every field. Also `?type=json` or a request "
                     "`Content-Type: application/json`."),
        "jsonBasic": flag("jsonBasic", "JSON with only text, displayName, timestamp, id, tags."),
        "ndjson": flag("ndjson", "`application/x-ndjson`: one jsonBasic object per line."),
        "raw": flag("raw", "The IRC lines, one per line, every tag kept. Also `?type=raw`."),
        "type": in_query(
            "type", "The format by name (justlog's form), any case; another value is a 400. With "
            "several flags, rustlog's order wins: raw, jsonBasic, json, ndjson.",
            {"type": "string", "enum": list(formats.FORMATS)}),
        "reverse": flag("reverse", "Newest first (default: oldest first)."),
        "from": in_query(
            "from", "Start, inclusive: Unix seconds (justlog; a fraction too) or RFC 3339 "
            "(rustlog; without a zone, UTC). Missing: the start of the archive.", moment),
        "to": in_query("to", "End, exclusive, in either form. Missing: now. `from` after `to` is "
                       "a 400.", moment),
        "limit": in_query("limit", "At most this many lines, in the order asked "
                          "(`?reverse&limit=100`: the newest 100).", integer(0, views.MAX_LIMIT)),
        "offset": in_query("offset", "Skip this many lines first.", integer(0, views.MAX_OFFSET)),
        "q": in_query("q", "The text to find, any case.",
                      {"type": "string", "minLength": 1, "maxLength": 500},
                      required=True, example="hello"),
        "listChannel": in_query("channel", "A channel's login (this or `channelid` is required).",
                                example="forsen"),
        "listChannelId": in_query("channelid", "A channel's room id."),
        "listUser": in_query("user", "A user's login: list their months in the channel."),
        "listUserId": in_query("userid", "A user's id, as `user`."),
        "userId": in_path("userId", "A Twitch user id.",
                          {"type": "string", "pattern": "^[0-9]{1,32}$"}, "77624902"),
        "login": in_path("login", "The channel's login (any case).",
                         {"type": "string", "pattern": "^[A-Za-z0-9_]{1,25}$"}, "forsen"),
        "recentLimit": in_query(
            "limit", f"The newest this many lines; more than {recent.MAX_LIMIT:,} is capped.",
            integer(0, default=recent.DEFAULT_LIMIT)),
        "before": in_query("before", "Only lines sent before this time (Unix ms).",
                           {"type": "integer"}),
        "after": in_query("after", "Only lines sent after this time (Unix ms).",
                          {"type": "integer"}),
        "hideModerationMessages": in_query(
            "hide_moderation_messages", "Leave out the moderation lines (CLEARCHAT, CLEARMSG). "
            "Also `hideModerationMessages`." + spelled, boolean),
        "hideModeratedMessages": in_query(
            "hide_moderated_messages", "Leave out the lines a moderator deleted, whose author was "
            "later timed out or banned, or that a later clear covered (else they carry "
            "`rm-deleted=1`). Also `hideModeratedMessages`." + spelled, boolean),
        "clearchatToNotice": in_query(
            "clearchat_to_notice", "Each CLEARCHAT as a NOTICE with a sentence (`msg-id` "
            "rm-timeout, rm-permaban or rm-clearchat). Also `clearchatToNotice`." + spelled,
            boolean),
    }  # fmt: skip


# -- schemas, headers, shared answers -------------------------------------------


def string(description: str | None = None, **extra) -> dict:
    schema = {"type": "string", **extra}
    return schema if description is None else {**schema, "description": description}


def record(properties: dict, optional: tuple[str, ...] = (), **extra) -> dict:
    required = [name for name in properties if name not in optional]
    return {"type": "object", "required": required, "properties": properties, **extra}


def schemas() -> dict:
    basic = {
        "text": string("The user's own words; for a ban, timeout or clear, what happened."),
        "displayName": string(),
        "timestamp": string("tmi-sent-ts, RFC 3339 in UTC ending in `Z`.", format="date-time"),
        "id": string("The Twitch message id (empty for moderation lines)."),
        "tags": {"type": "object", "additionalProperties": string(),
                 "description": "Every tag of the line, the IRCv3 escapes undone."},
    }  # fmt: skip
    full = {
        **basic,
        "systemText": string("A notice's system-msg, or what a moderator did."),
        "username": string("The login the line was sent under."),
        "channel": string("The channel's login."),
        "type": {"type": "integer", "enum": [1, 2, 4, 13],
                 "description": "PRIVMSG 1, CLEARCHAT 2, USERNOTICE 4, CLEARMSG 13."},
        "raw": string("The IRC line, rebuilt with every tag, IRCv3-escaped."),
    }  # fmt: skip
    day = string("Only in a channel's list.", pattern="^[1-9][0-9]?$")
    log_date = {"year": string(pattern="^[0-9]{4}$"), "month": string(pattern="^[1-9][0-9]?$")}
    chatter = record({"userId": string(), "userLogin": string(), "messageCount": integer(0)})
    nullable = {"type": ["string", "null"]}
    return {
        "BasicMessage": record(basic, example=BASIC_EXAMPLE),
        "FullMessage": record(full, example=FULL_EXAMPLE),
        "Messages": record({"messages": {"type": "array", "items": {
            "anyOf": [ref("schemas", "FullMessage"), ref("schemas", "BasicMessage")]}}}),
        "Channels": record({"channels": {"type": "array", "items": record(
            {"userID": string("The room id."), "name": string("The login.")})}}),
        "AvailableLogs": record({"availableLogs": {
            "type": "array", "description": "Newest first; numbers as unpadded strings.",
            "items": record({**log_date, "day": day}, optional=("day",))}}),
        "ChannelStats": record({"messageCount": integer(0),
                                "topChatters": {"type": "array", "maxItems": 5, "items": chatter}}),
        "UserStats": chatter,
        "NameHistory": {"type": "array", "items": record({
            "user_login": string(), "first_timestamp": string(format="date-time"),
            "last_timestamp": string(format="date-time")})},
        "Capabilities": {"type": "array", "items": string(enum=views.CAPABILITIES)},
        "RecentMessages": record({
            "messages": {"type": "array", "items": string(), "description": (
                "Raw IRC lines, oldest first, each with `historical=1` and `rm-received-ts=<ms>`; "
                "moderated ones with `rm-deleted=1`.")},
            "error": nullable,
            "error_code": {**nullable, "description": "`channel_not_joined` for a channel "
                           "goknut does not archive."}}),
        "RecentError": record({
            "status": integer(400, 599), "status_message": string(), "error": string(),
            "error_code": string(enum=["invalid_query", "invalid_channel_login",
                                       "channel_ignored", "method_not_allowed"])}),
    }  # fmt: skip


def headers() -> dict:
    def header(description: str, schema: dict, **extra) -> dict:
        return {"description": description, "schema": schema, **extra}

    return {
        "AccessControlAllowOrigin": header("Any site may read every answer.", string(const="*")),
        "NoSniff": header("Chat text is never rendered as anything else.",
                          string(const="nosniff")),
        "Capabilities": header("rustlog's capabilities, comma separated.",
                               string(const=",".join(views.CAPABILITIES))),
        "PeriodCacheControl": header(
            "`public, max-age=…` once the period is over (it never changes), `no-cache` while it "
            "runs.", string(pattern="^(no-cache|public, max-age=[0-9]+.*)$")),
        "NoCache": header("A different answer every time.", string(const="no-cache")),
        "ListCacheControl": header("Lists grow as chat arrives.", string(const=views.LIST_CACHE)),
        "Location": header("The newest period with logs, the query string kept: "
                           "`/api/channel/forsen/2024/3/1?json`.", string(), required=True),
    }  # fmt: skip


def components() -> dict:
    def plain(description: str, example: str) -> dict:
        return answer(description, {TEXT: {"schema": string(), "example": example}})

    return {
        "parameters": parameters(),
        "schemas": schemas(),
        "headers": headers(),
        "responses": {
            "BadRequest": plain("A bad parameter; the reason.", "invalid month: 13 is not between "
                                "1 and 12"),
            "OptedOut": plain("The user or channel opted out.", "User or channel has opted out"),
            "NotFound": plain("Unknown channel or user, or no logs there.", "Not found"),
        },
    }  # fmt: skip


# -- paths ---------------------------------------------------------------------

CHANNEL = ("channelKey", "channel")
USER = (*CHANNEL, "userKey", "user")
FORMAT = ("json", "jsonBasic", "ndjson", "raw", "type")
LINES = (*FORMAT, "reverse", "limit", "offset")
RANGE = ("from", "to", *LINES)

# path, operationId, summary, description, parameters, Cache-Control header, 302 to the newest …
LOG_PATHS = [
    ("/{channelKey}/{channel}", "channelLogs", "A channel's newest day, or a range",
     "Without `from` and `to`: 302 to the newest UTC day with logs (404 when there is none). "
     "With either: that range's lines (an empty range is a 200).",
     (*CHANNEL, *RANGE), "PeriodCacheControl", "day"),
    ("/{channelKey}/{channel}/range", "channelRange", "A range of a channel (justlog's form)",
     "As `/{channelKey}/{channel}?from=&to=`; without either, the last 31 days.",
     (*CHANNEL, *RANGE), "PeriodCacheControl", None),
    ("/{channelKey}/{channel}/{year}/{month}/{day}", "channelDay", "One UTC day of a channel",
     "Every line of the day: chat, notices, bans, timeouts, clears and deletions.",
     (*CHANNEL, "year", "month", "day", *LINES), "PeriodCacheControl", None),
    ("/{channelKey}/{channel}/random", "channelRandom", "A random line of a channel", "",
     (*CHANNEL, *FORMAT), "NoCache", None),
    ("/{channelKey}/{channel}/{userKey}/{user}", "userLogs",
     "A user's newest month in a channel, or a range",
     "Without `from` and `to`: 302 to the newest UTC month with the user's lines there (404 "
     "when there is none). With either: the user's lines of that range.",
     (*USER, *RANGE), "PeriodCacheControl", "month"),
    ("/{channelKey}/{channel}/{userKey}/{user}/range", "userRange",
     "A range of a user in a channel (justlog's form)",
     "As `/{channelKey}/{channel}/{userKey}/{user}?from=&to=`; without either, the last 31 days.",
     (*USER, *RANGE), "PeriodCacheControl", None),
    ("/{channelKey}/{channel}/{userKey}/{user}/{year}/{month}", "userMonth",
     "One UTC month of a user in a channel", "justlog's web UI asks `?json=1&reverse=1`.",
     (*USER, "year", "month", *LINES), "PeriodCacheControl", None),
    ("/{channelKey}/{channel}/{userKey}/{user}/random", "userRandom",
     "A random line of a user in a channel", "", (*USER, *FORMAT), "NoCache", None),
    ("/{channelKey}/{channel}/{userKey}/{user}/search", "userSearch",
     "A user's lines in a channel that contain a text",
     "Case-insensitive, over everything archived; no match is a 200 with no lines.",
     (*USER, "q", *LINES), "NoCache", None),
]  # fmt: skip


def log_content() -> dict:
    return {
        TEXT: {"schema": string(), "examples": {
            "text": {"summary": "default: one line per event", "value": TEXT_EXAMPLE},
            "raw": {"summary": "?raw: the IRC lines", "value": RAW_LINE + "\n"}}},
        JSON: {"schema": ref("schemas", "Messages"), "examples": {
            "json": {"summary": "?json", "value": {"messages": [FULL_EXAMPLE]}},
            "jsonBasic": {"summary": "?jsonBasic", "value": {"messages": [BASIC_EXAMPLE]}}}},
        NDJSON: {"schema": string("One BasicMessage JSON object per line."), "examples": {
            "ndjson": {"summary": "?ndjson", "value": NDJSON_EXAMPLE}}},
    }  # fmt: skip


def log_paths() -> dict:
    paths = {}
    for path, op_id, summary, description, names, cache_header, newest in LOG_PATHS:
        responses = {
            "200": answer(
                "The lines.", log_content(), {"Cache-Control": ref("headers", cache_header)}
            )
        }
        if newest:
            responses["302"] = answer(
                f"Without `from` and `to`: to the newest {newest} with logs.",
                headers={"Location": ref("headers", "Location")},
            )
        tag = USER_LOGS if "{user}" in path else CHANNEL_LOGS
        paths[path] = get(op_id, tag, summary, description, names,
                          {**responses, **errors(400, 403, 404)})  # fmt: skip
    return paths


def other_paths() -> dict:
    lists = {"Cache-Control": ref("headers", "ListCacheControl")}
    code = string(pattern="^[a-z0-9]{6}$")
    return {
        "/channels": get(
            "channels", "lists", "The archived channels", "Those with lines, opted-out ones left "
            "out.", (), {"200": json_answer("The channels.", ref("schemas", "Channels"),
                                            EXAMPLES["channels"], lists)}),
        "/list": get(
            "list", "lists", "A channel's days, or a user's months in it, that have logs",
            "Newest first, as justlog's UI expects (it loads the first).",
            ("listChannel", "listChannelId", "listUser", "listUserId"),
            {"200": json_answer("The days or months.", ref("schemas", "AvailableLogs"),
                                EXAMPLES["list"], lists), **errors(400, 403, 404)}),
        "/{channelKey}/{channel}/stats": get(
            "channelStats", CHANNEL_LOGS, "A channel's message count and top 5 chatters",
            "Chat messages and notices (PRIVMSG, USERNOTICE), never moderation events.", CHANNEL,
            {"200": json_answer("The counts.", ref("schemas", "ChannelStats"),
                                EXAMPLES["channelStats"]), **errors(400, 403, 404)}),
        "/{channelKey}/{channel}/{userKey}/{user}/stats": get(
            "userStats", USER_LOGS, "A user's message count in a channel", "", USER,
            {"200": json_answer("The count.", ref("schemas", "UserStats"), CHATTER),
             **errors(400, 403, 404)}),
        "/namehistory/{userId}": get(
            "nameHistory", "users", "The logins a user had", "One entry per login, oldest first, "
            "with the first and last time a line was sent under it.", ("userId",),
            {"200": json_answer("The logins.", ref("schemas", "NameHistory"), EXAMPLES["names"]),
             **errors(400, 403, 404)}),
        "/optout": {"post": {
            "operationId": "optOut", "tags": ["users"], "summary": "A code to opt out",
            "description": "A one-time code, valid 60 seconds: type `!goknut optout <code>` (or "
            "`!justlog optout <code>`) in any archived channel, and the API answers 403 for you "
            "from then on. Any other method than POST is a 405.",
            "responses": {"200": json_answer("The code, a JSON string.", code, "k3x9ab")}}},
        "/capabilities": get(
            "capabilities", "about", "What this server supports (rustlog's list)",
            "Also the `x-rustlog-capabilities` header of every answer.", (),
            {"200": json_answer("The list.", ref("schemas", "Capabilities"), views.CAPABILITIES)}),
        "/v2/recent-messages/{login}": get(
            "recentMessages", "recent-messages", "A channel's newest lines, for chat clients",
            "recent-messages2's API: the newest `limit` lines (no time cap), oldest first, as raw "
            "IRC lines. A channel goknut does not archive answers 200 with no messages and "
            "`error_code` `channel_not_joined`; errors are JSON, in recent-messages2's shape.",
            ("login", "recentLimit", "before", "after", "hideModerationMessages",
             "hideModeratedMessages", "clearchatToNotice"),
            {"200": json_answer("The lines.", ref("schemas", "RecentMessages"), EXAMPLES["recent"],
                                {"Cache-Control": ref("headers", "NoCache")}),
             "400": json_answer("A bad login or parameter (recent-messages2's error shape).",
                                ref("schemas", "RecentError"), EXAMPLES["recentBad"]),
             "403": json_answer("The channel opted out.", ref("schemas", "RecentError"),
                                EXAMPLES["recentOptedOut"])}),
        "/openapi.json": get("openapi", "about", "This description", "OpenAPI 3.1.", (),
                             {"200": json_answer("This document.", {"type": "object"})}),
        "/docs": get("docs", "about", "This description as a page", "Swagger UI, served by "
                     "goknut itself.", (), {"200": answer("A page.", {HTML: {"schema": {}}})}),
    }  # fmt: skip


@cache
def description() -> dict:
    """The document without `servers` (the view adds where /api is mounted)."""
    others = other_paths()
    paths = {path: others.pop(path) for path in ("/channels", "/list")}
    paths.update(log_paths())
    paths.update(others)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "goknut logs API",
            "version": "1",
            "summary": "justlog's, rustlog's and recent-messages2's API over goknut's archive.",
            "description": DESCRIPTION,
        },
        "tags": TAGS,
        "paths": paths,
        "components": components(),
    }


def document(api_root: str) -> dict:
    """The description for a server whose /api is at `api_root` (`/api`)."""
    return {**description(), "servers": [{"url": api_root, "description": "this goknut"}]}
