import asyncio
import contextlib
import signal
import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from goknut.env import http_url
from live import wakeups
from messages_app.ingest import heartbeat, metrics
from messages_app.ingest.irc import TWITCH_URL, LoginFailed, parse_irc_url
from messages_app.ingest.pipeline import DEFAULT_QUEUE_SIZE, IngestStats, Pipeline
from messages_app.ingest.runner import run_irc, run_replay
from messages_app.models import Channel, IngestHeartbeat
from messages_app.writes import ensure_channels

DEMO_CHANNELS = 6


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Archive Twitch chat: join every enabled channel and store its messages "
        "until SIGINT/SIGTERM, then store everything received and print a summary. "
        "--replay stores a log file instead; --demo ingests from a built-in chat "
        "simulator on loopback (no internet needed)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--irc-url",
            default=TWITCH_URL,
            help=f"irc://host:port (plain TCP) or ircs://host:port (TLS); default {TWITCH_URL}",
        )
        parser.add_argument(
            "--channel",
            action="append",
            default=[],
            metavar="NAME",
            help="create/enable this channel and join it (repeatable)",
        )
        parser.add_argument(
            "--replay",
            metavar="FILE",
            help="store raw Twitch IRC lines or JSON lines from FILE ('-' for stdin), then exit",
        )
        parser.add_argument(
            "--demo", action="store_true", help="ingest from the built-in chat simulator"
        )
        parser.add_argument(
            "--rate", type=positive, default=20, help="--demo chat lines per second (20)"
        )
        parser.add_argument(
            "--batch-size",
            type=positive,
            default=settings.INGEST_BATCH_SIZE,
            help="most records stored in one transaction (INGEST_BATCH_SIZE)",
        )
        parser.add_argument(
            "--flush-ms",
            type=positive,
            default=settings.INGEST_FLUSH_MS,
            help="longest a batch stays open while chat keeps arriving (INGEST_FLUSH_MS)",
        )
        parser.add_argument(
            "--queue-size",
            type=positive,
            default=DEFAULT_QUEUE_SIZE,
            help="records held between socket and database; when full, reading waits",
        )
        parser.add_argument(
            "--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT"
        )
        parser.add_argument(
            "--backfill-url",
            default=settings.INGEST_BACKFILL_URL,
            metavar="URL",
            help="after every (re)join, fetch the lines missed while not connected from this "
            "recent-messages API base, e.g. https://recent-messages.robotty.de/api/v2 "
            "(INGEST_BACKFILL_URL; default: no backfill)",
        )
        parser.add_argument(
            "--heartbeat-seconds",
            type=float,
            default=heartbeat.INTERVAL_S,
            help="how often ingest writes its state to the database for the pages, /readyz "
            f"and /metrics ({heartbeat.INTERVAL_S:g})",
        )
        parser.add_argument(
            "--no-backfill",
            action="store_true",
            help="no backfill, whatever INGEST_BACKFILL_URL says",
        )

    def on_signal(self, signum: int, *args) -> None:
        self.stderr.write(f"Received {signal.Signals(signum).name}, storing what was received...")
        self.stop.set()

    def handle(self, **options) -> str:
        try:
            backfill_url = http_url("--backfill-url", options["backfill_url"])
            options["backfill_url"] = "" if options["no_backfill"] else backfill_url
            if options["heartbeat_seconds"] <= 0:
                raise CommandError("--heartbeat-seconds must be above 0")
            ensure_channels([*settings.TWITCH_CHANNELS, *options["channel"]])
            self.prepare_source(options)
            if options["irc_url"] != TWITCH_URL:
                parse_irc_url(options["irc_url"])
        except ValidationError as exc:
            raise CommandError(f"bad channel name: {exc.messages[0]}") from None
        except ValueError as exc:
            raise CommandError(f"--irc-url: {exc}") from None
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        if options["metrics_port"]:
            try:
                metrics.serve(options["metrics_port"])
            except OSError as exc:
                raise CommandError(f"--metrics-port {options['metrics_port']}: {exc}") from None
        stats = IngestStats()
        try:
            asyncio.run(self.main(options, stats))
        except LoginFailed as exc:
            raise CommandError(f"{exc}. Check TWITCH_USERNAME and TWITCH_OAUTH_TOKEN.") from None
        finally:
            wakeups.flush()  # the last batch's wake-up, before the process ends
        return stats.summary()

    async def main(self, options: dict, stats: IngestStats) -> None:
        self.stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread can take signals (call_command may run in another).
            with contextlib.suppress(ValueError, RuntimeError):
                loop.add_signal_handler(signum, self.on_signal, signum)
        pipeline = Pipeline(
            stats,
            batch_size=options["batch_size"],
            flush_ms=options["flush_ms"],
            queue_size=options["queue_size"],
        )
        source = "replay" if options["replay"] else "demo" if options["demo"] else "twitch"
        beat = heartbeat.Heartbeat(source, interval=options["heartbeat_seconds"])
        if options["replay"]:
            await self.replay(options["replay"], pipeline, beat)
            return
        credentials = {"username": settings.TWITCH_USERNAME, "token": settings.TWITCH_OAUTH_TOKEN}
        if not options["demo"]:
            await run_irc(
                options["irc_url"],
                self.stop,
                pipeline,
                backfill_url=options["backfill_url"],
                heartbeat=beat,
                **credentials,
            )
            return
        from messages_app.ingest.simulator import TwitchServer

        # The simulator chats in the channels the client joins, and the client
        # joins what the database says, as against Twitch: staff disabling or
        # deleting a demo channel stops its chat.
        server = TwitchServer(rate=options["rate"], bursts=True)
        await server.start()
        self.stderr.write(f"demo: chat simulator on {server.url}, {options['rate']} lines/s")
        try:
            await run_irc(
                server.url,
                self.stop,
                pipeline,
                backfill_url=options["backfill_url"],
                heartbeat=beat,
            )
        finally:
            await server.close()

    async def replay(self, path: str, pipeline: Pipeline, beat: heartbeat.Heartbeat) -> None:
        if path == "-":
            await run_replay(sys.stdin.buffer, pipeline, self.stop, beat)
            return
        try:
            stream = open(path, "rb")  # noqa: SIM115 (closed below, after an await)
        except OSError as exc:
            raise CommandError(f"--replay: {exc}") from None
        with stream:
            await run_replay(stream, pipeline, self.stop, beat)

    def prepare_source(self, options: dict) -> None:
        """The demo's first run on a database adds its channels, enabled, as
        --channel would; later runs follow the channel list as staff left it
        (a disabled or deleted demo channel stays so). A Twitch run after the
        demo says that the channels enabled here will be joined on Twitch."""
        if options["replay"]:
            return
        last = heartbeat.last_live_source()
        if options["demo"] and not IngestHeartbeat.objects.filter(source="demo").exists():
            from messages_app.chatgen import channel_names

            names = ensure_channels(channel_names(DEMO_CHANNELS))
            self.stderr.write(f"demo: first run here, added the channels {', '.join(names)}")
        elif not options["demo"] and last == "demo":
            names = sorted(Channel.objects.to_join().values_list("name", flat=True))
            self.stderr.write(
                "switching from the demo to Twitch: the channels enabled here will be joined "
                f"on Twitch: {', '.join(names) or 'none'} (disable the demo's on /channels)"
            )
