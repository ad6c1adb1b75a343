"""goknut settings, read from the environment.

Every value has a default that runs on a laptop: a SQLite file in WAL mode and
an in-memory channel layer. Set DATABASE_URL and REDIS_URL to scale out.
"""

from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from goknut.env import env_bool, env_http_url, env_int, env_list, env_networks, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    # A development default keeps `make run` one command; production sets its own.
    SECRET_KEY = "goknut-insecure-development-key-set-SECRET_KEY-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "django_prometheus",
    "messages_app",
    "live",
    "logs_api",
    "drf_spectacular_sidecar",  # Swagger UI's files for /api/docs (static only)
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last: sync only, so the whole chain runs in one thread (goknut/middleware.py).
    "goknut.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "goknut.urls"
ASGI_APPLICATION = "goknut.asgi.application"
WSGI_APPLICATION = "goknut.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "goknut.context_processors.site",
            ],
        },
    },
]


def database_config(url: str) -> dict:
    """Turn DATABASE_URL into a Django DATABASES entry with our tuning."""
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        config["ENGINE"] = "django_prometheus.db.backends.sqlite3"
        config["CONN_MAX_AGE"] = None  # a SQLite connection costs nothing to keep
        config["OPTIONS"] = {
            # Applied on every new connection. WAL lets readers and the one writer
            # work at once; NORMAL is durable across application crashes in WAL mode.
            # A checkpoint every 10,000 pages (40 MB of WAL) instead of 1,000: each
            # one fsyncs twice and rewrites the hot pages (counters, index tails)
            # that every batch dirties again; the write path spent ~10 ms a batch
            # of 1,000 there (docs/perf.md).
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                "PRAGMA wal_autocheckpoint=10000;"
                "PRAGMA temp_store=MEMORY;"
                "PRAGMA cache_size=-65536;"
                "PRAGMA mmap_size=268435456;"
                # Freed pages are overwritten: an erased user's text must not
                # survive in free pages (messages_app/erasure.py, docs/privacy.md).
                "PRAGMA secure_delete=ON;"
            ),
            # Writers take the lock at BEGIN, so a busy database waits
            # (busy timeout) instead of failing half-way with SQLITE_BUSY.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    elif engine.endswith(("postgresql", "postgis")):
        config["ENGINE"] = "django_prometheus.db.backends.postgresql"
        # libpq waits forever for an unreachable host by default: a page or the
        # live relay would hang for the whole outage instead of answering 503.
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", 3)
        # The planner's cost of a full-text search over a big archive can pass
        # jit_above_cost, and compiling a query costs milliseconds that goknut's
        # short queries never win back (not measured here: the test server
        # already had JIT off).
        options.setdefault("options", "-c jit=off")
    else:
        raise ImproperlyConfigured(f"DATABASE_URL must be sqlite:// or postgres://, got {engine}")
    return config


DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'goknut.sqlite3'}")
DATABASES = {"default": database_config(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def channel_layers(redis_url: str, prefix: str = "goknut") -> dict:
    if not redis_url:
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    if urlparse(redis_url).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"REDIS_URL must be redis://..., got {redis_url!r}")
    # Pub/sub, not the list-based RedisChannelLayer: the layer only carries
    # wake-ups to one relay per web process (live/wakeups.py says why).
    return {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # Pub/sub channels are global to a Redis server (not per database
            # number): installs that share one tell their wake-ups apart by this.
            "CONFIG": {"hosts": [redis_url], "prefix": prefix},
        }
    }


REDIS_URL = env_str("REDIS_URL", "")
CHANNEL_LAYER_PREFIX = env_str("CHANNEL_LAYER_PREFIX", "goknut")
CHANNEL_LAYERS = channel_layers(REDIS_URL, CHANNEL_LAYER_PREFIX)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
LOGIN_URL = "admin:login"
SERVE_STATIC = env_bool("SERVE_STATIC", True)

# Twitch and ingest.
TWITCH_USERNAME = env_str("TWITCH_USERNAME", "")
TWITCH_OAUTH_TOKEN = env_str("TWITCH_OAUTH_TOKEN", "")
TWITCH_CHANNELS = env_list("TWITCH_CHANNELS", [])
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 100, minimum=1)
INGEST_FLUSH_MS = env_int("INGEST_FLUSH_MS", 100, minimum=1)
# A recent-messages API (robotty/recent-messages2) to fill the gap after every
# (re)connect, e.g. https://recent-messages.robotty.de/api/v2; unset: no backfill.
INGEST_BACKFILL_URL = env_http_url("INGEST_BACKFILL_URL")
# Days a line is kept (unset or empty: forever); a channel's retention_days overrides it.
# The running ingest and `manage.py prune` remove older lines (messages_app/retention.py).
RETENTION_DAYS = env_int("RETENTION_DAYS", None, minimum=1)

# Pages: a message a moderator deleted stays readable (marked deleted) unless
# this is false, which hides its text everywhere (pages, search, live events).
SHOW_DELETED_TEXT = env_bool("SHOW_DELETED_TEXT", True)
# Pages: Twitch emotes as images from Twitch's CDN (static-cdn.jtvnw.net, the one
# outside address a page loads); false shows their names, styled. The tests and the
# offline demo (`make run` with no channel) default to false.
EMOTE_IMAGES = env_bool("EMOTE_IMAGES", True)

# Live updates.
ENABLE_SSE = env_bool("ENABLE_SSE", True)
SSE_MAX_CONNECTIONS = env_int("SSE_MAX_CONNECTIONS", 10000, minimum=1)
SSE_KEEPALIVE_SECONDS = env_int("SSE_KEEPALIVE_SECONDS", 25, minimum=1)
SSE_CLIENT_BUFFER_BYTES = env_int("SSE_CLIENT_BUFFER_BYTES", 1_000_000, minimum=10_000)
EVENTSTREAM_ALLOW_ORIGINS = []

PROMETHEUS_EXPORT_MIGRATIONS = False
# Who may read /metrics (goknut/metrics_access.py): these networks (empty: none),
# and anyone sending `Authorization: Bearer <METRICS_TOKEN>` when it is set.
METRICS_ALLOWED_NETWORKS = env_networks(
    "METRICS_ALLOWED_NETWORKS",
    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "filters": {"quiet_redis_outages": {"()": "live.wakeups.QuietOutages"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "channels_redis.pubsub": {"filters": ["quiet_redis_outages"]},
    },
}
