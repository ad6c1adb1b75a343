import pytest
from django.core.exceptions import ImproperlyConfigured

from goknut.env import env_bool, env_http_url, env_int, env_list, env_str
from goknut.settings import channel_layers, database_config


@pytest.mark.parametrize("raw", ["1", "true", "Yes", " ON "])
def test_it_reads_true_words(monkeypatch, raw):
    monkeypatch.setenv("GOKNUT_FLAG", raw)
    assert env_bool("GOKNUT_FLAG", False) is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off", ""])
def test_it_reads_false_words(monkeypatch, raw):
    monkeypatch.setenv("GOKNUT_FLAG", raw)
    assert env_bool("GOKNUT_FLAG", True) is False


def test_it_uses_defaults_when_variables_are_unset(monkeypatch):
    for name in ("GOKNUT_FLAG", "GOKNUT_N", "GOKNUT_LIST", "GOKNUT_TEXT"):
        monkeypatch.delenv(name, raising=False)
    assert env_bool("GOKNUT_FLAG", True) is True
    assert env_int("GOKNUT_N", 7) == 7
    assert env_list("GOKNUT_LIST", ["a"]) == ["a"]
    assert env_str("GOKNUT_TEXT", "x") == "x"


def test_it_names_the_variable_of_a_bad_boolean(monkeypatch):
    monkeypatch.setenv("ENABLE_SSE", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"ENABLE_SSE.*'maybe'"):
        env_bool("ENABLE_SSE", True)


def test_it_reads_whole_numbers(monkeypatch):
    monkeypatch.setenv("INGEST_BATCH_SIZE", " 250 ")
    assert env_int("INGEST_BATCH_SIZE", 100, minimum=1) == 250


def test_it_names_the_variable_of_a_bad_number(monkeypatch):
    monkeypatch.setenv("INGEST_BATCH_SIZE", "lots")
    with pytest.raises(ImproperlyConfigured, match=r"INGEST_BATCH_SIZE.*whole number"):
        env_int("INGEST_BATCH_SIZE", 100)


def test_it_enforces_a_minimum(monkeypatch):
    monkeypatch.setenv("SSE_MAX_CONNECTIONS", "0")
    with pytest.raises(ImproperlyConfigured, match="SSE_MAX_CONNECTIONS must be at least 1"):
        env_int("SSE_MAX_CONNECTIONS", 10, minimum=1)


def test_it_splits_lists_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("TWITCH_CHANNELS", " forsen, ,xqc ,")
    assert env_list("TWITCH_CHANNELS", []) == ["forsen", "xqc"]


def test_it_configures_sqlite_in_wal_mode():
    config = database_config("sqlite:////tmp/goknut-test.sqlite3")
    assert config["NAME"] == "/tmp/goknut-test.sqlite3"
    assert config["ENGINE"] == "django_prometheus.db.backends.sqlite3"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


@pytest.mark.parametrize(
    "url", ["postgres://u:secret@db.example:6543/goknut", "postgresql://u@h/x"]
)
def test_it_configures_postgresql(url):
    config = database_config(url)
    assert config["ENGINE"] == "django_prometheus.db.backends.postgresql"
    assert config["NAME"] == url.rsplit("/", 1)[1]


def test_it_reads_postgresql_credentials():
    config = database_config("postgres://u:secret@db.example:6543/goknut")
    assert (config["USER"], config["PASSWORD"]) == ("u", "secret")
    assert (config["HOST"], config["PORT"]) == ("db.example", 6543)


def test_it_turns_postgresql_jit_off_for_its_short_queries():
    """A compiled plan costs more than goknut's page queries (docs/deployment.md)."""
    config = database_config("postgres://u@h/x")
    assert config["OPTIONS"]["options"] == "-c jit=off"
    assert config["OPTIONS"]["connect_timeout"] == 3


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "", "redis://127.0.0.1:6379"])
def test_it_names_database_url_when_it_is_unusable(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_config(url)


def test_it_uses_the_in_memory_channel_layer_without_redis():
    assert channel_layers("")["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"


def test_it_uses_redis_when_redis_url_is_set():
    layer = channel_layers("redis://127.0.0.1:6379/2")["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layer["CONFIG"]["hosts"] == ["redis://127.0.0.1:6379/2"]
    assert layer["CONFIG"]["prefix"] == "goknut"


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379"])
def test_it_names_redis_url_when_it_is_unusable(url):
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        channel_layers(url)


def test_it_leaves_backfill_off_when_ingest_backfill_url_is_unset(monkeypatch):
    monkeypatch.delenv("INGEST_BACKFILL_URL", raising=False)
    assert env_http_url("INGEST_BACKFILL_URL") == ""
    monkeypatch.setenv("INGEST_BACKFILL_URL", " ")
    assert env_http_url("INGEST_BACKFILL_URL") == ""


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://recent-messages.robotty.de/api/v2", "https://recent-messages.robotty.de/api/v2"),
        (" http://goknut.lan:8000/api/v2/ ", "http://goknut.lan:8000/api/v2"),
    ],
)
def test_it_reads_an_http_backfill_url(monkeypatch, raw, url):
    monkeypatch.setenv("INGEST_BACKFILL_URL", raw)
    assert env_http_url("INGEST_BACKFILL_URL") == url


@pytest.mark.parametrize(
    "raw",
    ["ftp://recent-messages.robotty.de/api/v2", "recent-messages.robotty.de/api/v2", "http://",
     "file:///etc/passwd", "https://host:99999/api/v2"],
)  # fmt: skip
def test_it_names_ingest_backfill_url_when_it_is_unusable(monkeypatch, raw):
    monkeypatch.setenv("INGEST_BACKFILL_URL", raw)
    with pytest.raises(ImproperlyConfigured, match="INGEST_BACKFILL_URL"):
        env_http_url("INGEST_BACKFILL_URL")
