"""/api/openapi.json and /api/docs over HTTP against daphne.

The description is valid OpenAPI 3.1, names every route of logs_api/urls.py,
and says what the server really answers: for a request per documented status
of every operation, the status, content type, body (against the schema) and
headers are checked against what the served description says. The page shows
it with files this daphne serves itself (no other host is asked)."""

from __future__ import annotations

import copy
import inspect
import json
import os
import re
from html.parser import HTMLParser
from urllib.parse import quote, urlsplit

import pytest
from django.urls import Resolver404, resolve
from django.urls.resolvers import RoutePattern
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from logs_api import urls, views
from messages_app.ingest.parser import parse_line
from tests.api import corpus
from tests.browser import support

SPEC_URI = "urn:goknut:openapi"
TEXT_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] #[a-z0-9_]+ \S.*$")
METHODS = ("get", "post", "put", "patch", "delete")


class Described:
    """The served description, with what the checks need: operations by id,
    `$ref`s followed, JSON Schema validation against its components."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        resource = DRAFT202012.create_resource(spec)
        self.registry = Registry().with_resource(SPEC_URI, resource)

    def operations(self):
        for path, item in self.spec["paths"].items():
            for method in METHODS:
                if method in item:
                    yield path, method, item[method]

    def operation(self, op_id: str) -> tuple[str, str, dict]:
        found = [(p, m, op) for p, m, op in self.operations() if op["operationId"] == op_id]
        assert len(found) == 1, f"{op_id}: {len(found)} operations"
        return found[0]

    def at(self, pointer: str):
        node = self.spec
        for part in pointer.lstrip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def follow(self, pointer: str) -> tuple[str, dict]:
        """(pointer, node) of the object at `pointer`, through its `$ref`s."""
        node = self.at(pointer)
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self.at(pointer)
        return pointer, node

    def response(self, op_id: str, status: int) -> tuple[str, dict] | None:
        path, method, op = self.operation(op_id)
        if str(status) not in op["responses"]:
            return None
        return self.follow(pointer("paths", path, method, "responses", str(status)))

    def path_examples(self, path: str) -> dict[str, str]:
        item = self.spec["paths"][path]
        op = next(item[m] for m in METHODS if m in item)
        values = {}
        for ref in op.get("parameters", []):
            _, param = self.follow(ref["$ref"].removeprefix("#"))
            if param["in"] == "path":
                values[param["name"]] = str(param["example"])
        return values

    def filled(self, path: str) -> str:
        """A documented path with its parameters' examples: /channel/forsen/2024/3/1."""
        values = self.path_examples(path)
        return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)

    def errors(self, instance, schema_pointer: str) -> list[str]:
        schema = {"$ref": SPEC_URI + "#" + quote(schema_pointer, safe="/~")}
        validator = OAS31Validator(
            schema, registry=self.registry, format_checker=OAS31Validator.FORMAT_CHECKER
        )
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def pointer(*parts: str) -> str:
    return "/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@pytest.fixture(scope="module")
def spec(api) -> dict:
    answer = api.get("/api/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    return answer.json()


@pytest.fixture(scope="module")
def described(spec) -> Described:
    return Described(spec)


# -- the document ----------------------------------------------------------------


def test_the_description_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1.")
    validate(spec, cls=OpenAPIV31SpecValidator)
    broken = copy.deepcopy(spec)  # the validator does look: a path parameter left undefined
    day = broken["paths"]["/{channelKey}/{channel}/{year}/{month}/{day}"]["get"]
    day["parameters"] = [p for p in day["parameters"] if not p["$ref"].endswith("/year")]
    with pytest.raises(OpenAPIValidationError, match="year"):
        validate(broken, cls=OpenAPIV31SpecValidator)


def test_it_says_where_the_api_is_mounted(spec):
    assert spec["servers"][0]["url"] == "/api"


def test_every_route_of_the_api_urls_is_documented(described):
    """Each documented path, its examples filled in, is resolved by Django; every
    named route of logs_api/urls.py must be reached by one (a route added without
    an entry in logs_api/openapi.py fails here)."""
    root = described.spec["servers"][0]["url"]
    reached = {}
    for path in described.spec["paths"]:
        try:
            match = resolve(root + described.filled(path))
        except Resolver404:
            pytest.fail(f"{path} is documented, but no route of the api serves it")
        assert match.namespace == "logs_api", path
        reached.setdefault(match.url_name, []).append(path)
    names = {pattern.name for pattern in urls.urlpatterns}
    assert names - set(reached) == set(), "routes without a description"
    for pattern in urls.urlpatterns:  # a path() route is documented as itself
        if isinstance(pattern.pattern, RoutePattern):
            shape = re.sub(r"<(?:\w+:)?\w+>", "{}", "/" + str(pattern.pattern))
            assert [re.sub(r"\{\w+\}", "{}", p) for p in reached[pattern.name]] == [shape]


def test_every_tail_the_log_dispatcher_serves_is_documented(spec):
    """views.logs dispatches /api/channel/... itself (one urls.py route): the
    endpoints it names (`rest == ["random"]`) must each have a path here."""
    served = set(re.findall(r'rest == \["(\w+)"\]', inspect.getsource(views.logs)))
    assert served >= {"range", "random", "stats", "search"}  # the scan still reads the code
    documented = {path.rsplit("/", 1)[1] for path in spec["paths"] if "{channel}/" in path}
    assert served - documented == set()


def test_every_example_fits_its_schema(described):
    checked = 0
    for path, method, op in described.operations():
        for status in op["responses"]:
            where, response = described.follow(pointer("paths", path, method, "responses", status))
            for media, body in response.get("content", {}).items():
                schema_at = f"{where}/content/{pointer(media)[1:]}/schema"
                values = [e["value"] for e in body.get("examples", {}).values()]
                values += [body["example"]] if "example" in body else []
                for value in values:
                    assert described.errors(value, schema_at) == [], (path, status, media)
                    checked += 1
    components = described.spec["components"]
    for name, param in components["parameters"].items():
        if "example" in param:
            at = pointer("components", "parameters", name, "schema")
            assert described.errors(param["example"], at) == [], name
            checked += 1
    for name, schema in components["schemas"].items():
        if "example" in schema:
            assert described.errors(schema["example"], pointer("components", "schemas", name)) == []
            checked += 1
    assert checked > 40


# -- real answers against the description ------------------------------------------

HIDDEN_ID, RENAMED_ID = corpus.HIDDEN_ID, corpus.RENAMED_ID
DAY = "/api/channel/forsen/2024/3/1"
GEMPIR = "/api/channel/forsen/user/gempir"
OPTED_OUT = "/api/channel/forsen/user/optedout"
NOBODY = "/api/channel/forsen/user/nobody"
RFC_HOUR = "from=2024-03-01T10:00:00Z&to=2024-03-01T11:00:00Z"

# operationId, method, path and query, the status it answers.
CASES = [
    ("channels", "GET", "/api/channels", 200),
    ("list", "GET", "/api/list?channel=forsen", 200),
    ("list", "GET", "/api/list?channel=forsen&user=gempir", 200),
    ("list", "GET", "/api/list", 400),
    ("list", "GET", "/api/list?channel=hidden", 403),
    ("list", "GET", "/api/list?channel=nobody", 404),
    ("channelLogs", "GET", "/api/channel/forsen?json", 302),
    ("channelLogs", "GET", "/api/channel/forsen?from=1709287200&to=1709290800&json", 200),
    ("channelLogs", "GET", "/api/channel/forsen?from=tomorrow", 400),
    ("channelLogs", "GET", "/api/channel/hidden", 403),
    ("channelLogs", "GET", "/api/channel/nobody", 404),
    ("channelRange", "GET", f"/api/channel/forsen/range?{RFC_HOUR}&ndjson", 200),
    ("channelRange", "GET", "/api/channel/forsen/range?from=1709290800&to=1709287200", 400),
    ("channelRange", "GET", f"/api/channelid/{HIDDEN_ID}/range", 403),
    ("channelRange", "GET", "/api/channel/nobody/range", 404),
    ("channelDay", "GET", DAY, 200),
    ("channelDay", "GET", "/api/channel/forsen/2024/2/30", 400),
    ("channelDay", "GET", f"/api/channelid/{HIDDEN_ID}/2024/3/1", 403),
    ("channelDay", "GET", "/api/channel/forsen/2024/3/2", 404),
    ("channelRandom", "GET", "/api/channel/forsen/random?json", 200),
    ("channelRandom", "GET", "/api/channel/forsen/random?type=xml", 400),
    ("channelRandom", "GET", "/api/channel/hidden/random", 403),
    ("channelRandom", "GET", "/api/channel/nobody/random", 404),
    ("channelStats", "GET", "/api/channel/forsen/stats", 200),
    ("channelStats", "GET", "/api/channelid/forsen/stats", 400),
    ("channelStats", "GET", "/api/channel/hidden/stats", 403),
    ("channelStats", "GET", "/api/channel/nobody/stats", 404),
    ("userLogs", "GET", GEMPIR, 302),
    ("userLogs", "GET", f"{GEMPIR}?from=2024-03-01T00:00:00Z&to=2024-04-01T00:00:00Z&json", 200),
    ("userLogs", "GET", "/api/channel/forsen/userid/gempir", 400),
    ("userLogs", "GET", OPTED_OUT, 403),
    ("userLogs", "GET", NOBODY, 404),
    ("userRange", "GET", f"{GEMPIR}/range?from=1709251200&to=1709337600&raw", 200),
    ("userRange", "GET", f"{GEMPIR}/range?limit=many", 400),
    ("userRange", "GET", f"{OPTED_OUT}/range", 403),
    ("userRange", "GET", f"{NOBODY}/range", 404),
    ("userMonth", "GET", f"{GEMPIR}/2024/3?json=1&reverse=1", 200),
    ("userMonth", "GET", f"{GEMPIR}/2024/13", 400),
    ("userMonth", "GET", f"{OPTED_OUT}/2024/3", 403),
    ("userMonth", "GET", f"{GEMPIR}/2023/1", 404),
    ("userRandom", "GET", f"{GEMPIR}/random?jsonBasic", 200),
    ("userRandom", "GET", f"{GEMPIR}/random?type=xml", 400),
    ("userRandom", "GET", f"{OPTED_OUT}/random", 403),
    ("userRandom", "GET", f"{NOBODY}/random", 404),
    ("userSearch", "GET", f"{GEMPIR}/search?q=HELLO&json", 200),
    ("userSearch", "GET", f"{GEMPIR}/search", 400),
    ("userSearch", "GET", f"{OPTED_OUT}/search?q=hi", 403),
    ("userSearch", "GET", f"{NOBODY}/search?q=hi", 404),
    ("userStats", "GET", f"{GEMPIR}/stats", 200),
    ("userStats", "GET", "/api/channel/forsen/userid/x/stats", 400),
    ("userStats", "GET", f"{OPTED_OUT}/stats", 403),
    ("userStats", "GET", f"{NOBODY}/stats", 404),
    ("nameHistory", "GET", f"/api/namehistory/{RENAMED_ID}", 200),
    ("nameHistory", "GET", "/api/namehistory/oldname", 400),
    ("nameHistory", "GET", f"/api/namehistory/{corpus.OPTED_OUT_ID}", 403),
    ("nameHistory", "GET", "/api/namehistory/999999999", 404),
    ("optOut", "POST", "/api/optout", 200),
    ("capabilities", "GET", "/api/capabilities", 200),
    ("recentMessages", "GET", "/api/v2/recent-messages/forsen?limit=3", 200),
    ("recentMessages", "GET", "/api/v2/recent-messages/nobody", 200),
    ("recentMessages", "GET", "/api/v2/recent-messages/forsen?limit=lots", 400),
    ("recentMessages", "GET", "/api/v2/recent-messages/hidden", 403),
    ("openapi", "GET", "/api/openapi.json", 200),
    ("docs", "GET", "/api/docs", 200),
]


def conformance(described: Described, op_id: str, answer) -> list[str]:
    """What in a real answer the description does not say."""
    documented = described.response(op_id, answer.status_code)
    if documented is None:
        return [f"status {answer.status_code} is not documented for {op_id}"]
    where, response = documented
    problems = []
    for name in response.get("headers", {}):
        header_at, _ = described.follow(f"{where}/headers/{pointer(name)[1:]}")
        value = answer.headers.get(name)
        if value is None:
            problems.append(f"header {name} missing")
        else:
            problems += [f"{name}: {e}" for e in described.errors(value, f"{header_at}/schema")]
    content = response.get("content", {})
    if not content:
        return problems
    kind = answer.headers.get("content-type", "")
    media = kind.split(";")[0].strip()
    if media not in content:
        return [*problems, f"content type {kind!r} is not one of {sorted(content)}"]
    if "charset=utf-8" not in kind.replace(" ", "").lower():
        problems.append(f"{kind!r} does not say UTF-8")
    schema_at = f"{where}/content/{pointer(media)[1:]}/schema"
    if media == "application/json":
        problems += described.errors(answer.json(), schema_at)
    elif media == "application/x-ndjson":
        basic = pointer("components", "schemas", "BasicMessage")
        for line in answer.text.splitlines():
            problems += described.errors(json.loads(line), basic)
    return problems


@pytest.mark.parametrize(("op_id", "method", "path", "status"), CASES,
                         ids=[f"{c[3]}-{c[2]}" for c in CASES])  # fmt: skip
def test_real_answers_are_what_the_description_says(api, described, op_id, method, path, status):
    answer = api.request(method, path)
    assert answer.status_code == status, answer.text[:300]
    assert conformance(described, op_id, answer) == []


def test_the_cases_answer_every_documented_status(described):
    documented = {(op["operationId"], status) for _, _, op in described.operations()
                  for status in op["responses"]}  # fmt: skip
    asked = {(op_id, str(status)) for op_id, _, _, status in CASES}
    assert documented - asked == set(), "documented but never checked against the server"
    assert asked - documented == set()


FORMATS = [("", "text"), ("?json", "json"), ("?jsonBasic", "jsonBasic"), ("?ndjson", "ndjson"),
           ("?raw", "raw"), ("?type=json", "json"), ("?type=RAW", "raw")]  # fmt: skip


@pytest.mark.parametrize(("query", "fmt"), FORMATS)
def test_each_format_has_the_content_type_the_description_names(api, described, query, fmt):
    _, response = described.response("channelDay", 200)
    named = [m for m, body in response["content"].items() if fmt in body.get("examples", {})]
    answer = api.get(DAY + query)
    assert answer.status_code == 200
    assert answer.headers["content-type"].split(";")[0] == named[0]
    assert len(named) == 1
    assert conformance(described, "channelDay", answer) == []


def test_every_documented_path_answers_a_cors_preflight(api, described):
    root = described.spec["servers"][0]["url"]
    for path in described.spec["paths"]:
        answer = api.request("OPTIONS", root + described.filled(path))
        assert answer.status_code == 204, path
        assert answer.headers["access-control-allow-origin"] == "*", path


def test_the_examples_have_the_shape_of_real_answers(api, described):
    schemas = described.spec["components"]["schemas"]
    full = api.get(DAY + "?json").json()["messages"][0]
    basic = api.get(DAY + "?jsonBasic").json()["messages"][0]
    for example, real in ((schemas["FullMessage"]["example"], full),
                          (schemas["BasicMessage"]["example"], basic)):  # fmt: skip
        assert list(example) == list(real)
        assert {k: type(v) for k, v in example.items()} == {k: type(v) for k, v in real.items()}
    _, day = described.response("channelDay", 200)
    examples = day["content"]["text/plain"]["examples"]
    real_text = api.get(DAY).text.splitlines()
    for line in [*examples["text"]["value"].splitlines(), *real_text]:
        assert TEXT_LINE.match(line), line
    real_raw = api.get(DAY + "?raw").text.splitlines()[0]
    for line in (examples["raw"]["value"].rstrip("\n"), real_raw, full["raw"]):
        message = parse_line(line)
        assert message.command == "PRIVMSG", line
        assert {"id", "room-id", "user-id", "tmi-sent-ts"} <= set(message.tags), line


def test_the_recent_messages_example_is_shaped_as_the_served_lines(api, described):
    _, documented = described.response("recentMessages", 200)
    example = documented["content"]["application/json"]["example"]["messages"][0]
    real = api.get("/api/v2/recent-messages/forsen?limit=1").json()["messages"][0]
    for line in (example, real):
        tags = parse_line(line).tags
        assert tags["historical"] == "1", line
        assert tags["rm-received-ts"].isdigit(), line


# -- the page ------------------------------------------------------------------------


class Assets(HTMLParser):
    """Every URL a page makes the browser load: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.spec_url: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        if "data-spec-url" in attrs:
            self.spec_url = attrs["data-spec-url"]


ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def test_the_page_loads_only_files_this_server_serves(api):
    page = api.get("/api/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert not re.search(r"(?:https?:)?//[\w.-]+\.\w", page.text), "a URL of another host"
    assets = Assets()
    assets.feed(page.text)
    assert assets.spec_url == "/api/openapi.json"
    assert len([u for u in assets.urls if u.endswith(".js")]) >= 2  # Swagger UI and its start
    assert any(u.endswith("swagger-ui.css") for u in assets.urls)
    for url in assets.urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", "") and url.startswith("/static/"), url
        answer = api.get(url)
        assert answer.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert answer.headers["content-type"].startswith(ASSET_TYPES[suffix]), url
        assert len(answer.content) > 100, url


@pytest.mark.browser
def test_the_page_shows_every_operation_and_tries_one_against_this_server(api, described):
    missing = support.missing_dependencies(axe=False)
    if missing:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true and chromium cannot run: {'; '.join(missing)}")
        pytest.skip(f"browser test SKIPPED, missing: {'; '.join(missing)} (make browser-deps)")
    from playwright.sync_api import expect, sync_playwright

    base = api.daphne.url
    path, _, op = described.operation("channelDay")
    block = f"#operations-{op['tags'][0].replace(' ', '_')}-channelDay"
    hosts, errors = set(), []
    with sync_playwright() as playwright:
        browser = support.launch_browser(playwright)
        try:
            page = browser.new_page(viewport=support.VIEWPORT)
            page.on("request", lambda request: hosts.add(urlsplit(request.url).netloc))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{base}/api/docs#/{quote(op['tags'][0])}/channelDay")
            expect(page.locator(".opblock")).to_have_count(len(list(described.operations())))
            expect(page.locator(block)).to_contain_text(path)
            page.locator(f"{block} .try-out__btn").click()
            page.locator(f"{block} button.execute").click()
            expect(page.locator(f"{block} .live-responses-table")).to_contain_text(
                "#forsen gempir: hello forsen"
            )
        finally:
            browser.close()
    assert errors == []  # a script error, or anything the page's CSP refused
    assert hosts == {urlsplit(base).netloc}, "the page asked another host"
