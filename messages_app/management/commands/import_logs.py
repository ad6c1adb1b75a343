import asyncio
import contextlib
import signal
import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from live import wakeups
from messages_app.ingest.importer import (
    Found,
    Importer,
    ImportStats,
    Lines,
    NoLogs,
    Progress,
    counting_store,
    find_logs,
    known_rooms,
    total_size,
)
from messages_app.ingest.pipeline import Pipeline
from messages_app.validators import TWITCH_LOGIN_RE

BATCH_SIZE = 1000  # the write path's fixed cost per transaction is paid 10 times less than at 100


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def seconds(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "Import chat logs into the archive: justlog's log tree (<room id>/<year>/<month>/<day>/"
        "channel.txt[.gz]; its per-user files repeat the days and are skipped), files of raw "
        "Twitch IRC lines (gzipped or not) and goknut's own ?raw and ?ndjson exports. "
        "Lines already stored (by Twitch message id) are counted as duplicates, so running it "
        "again, or after an interruption, stores only what is missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="a log file or a directory")
        parser.add_argument(
            "--channel",
            default="",
            metavar="LOGIN",
            help="the channel of ndjson (jsonBasic) lines, which do not name it; "
            "raw IRC lines always name their own",
        )
        parser.add_argument(
            "--batch-size",
            type=positive,
            default=BATCH_SIZE,
            help=f"most lines stored in one transaction ({BATCH_SIZE})",
        )
        parser.add_argument(
            "--progress-every",
            type=seconds,
            default=10.0,
            metavar="SECONDS",
            help="when stderr is not a terminal, a progress line this often (10)",
        )

    def handle(self, **options) -> str:
        channel = options["channel"].lower().lstrip("#")
        if channel and not TWITCH_LOGIN_RE.fullmatch(channel):
            raise CommandError(f"--channel: {options['channel']!r} is not a Twitch login")
        try:
            found = find_logs(options["paths"])
        except NoLogs as exc:
            raise CommandError(f"nothing imported: {exc}") from None
        try:
            rooms = known_rooms()  # also says at once when the database is not there
        except DatabaseError as exc:
            raise CommandError(f"nothing imported: database: {exc} (migrated?)") from None
        stats = ImportStats()
        stats.user_files, stats.ignored = found.user_files, found.ignored
        lines = Lines(stats, channel, rooms if channel else {})
        started = time.monotonic()
        try:
            asyncio.run(self.main(found, lines, options))
        finally:
            wakeups.flush()  # the last batch's wake-up, before the process ends
        summary = stats.summary(time.monotonic() - started)
        if stats.interrupted:
            self.stdout.write(summary)
            raise CommandError("interrupted: run the same command again to import the rest")
        return summary

    async def main(self, found: Found, lines: Lines, options: dict) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Only the main thread can take signals (call_command may run in another).
            with contextlib.suppress(ValueError, RuntimeError):
                loop.add_signal_handler(signum, self.on_signal, stop, signum)
        pipeline = Pipeline(
            lines.stats,
            batch_size=options["batch_size"],
            store=counting_store(lines.stats.kinds),
        )
        progress = Progress(
            # Unstyled: Django would paint all of stderr red on a terminal.
            lambda text: self.stderr.write(text, style_func=str, ending=""),
            total_size(found.files),
            tty=self.stderr.isatty(),
            every=options["progress_every"],
        )
        await Importer(found, lines, pipeline, stop, progress).run()

    def on_signal(self, stop: asyncio.Event, signum: int) -> None:
        self.stderr.write(f"\nReceived {signal.Signals(signum).name}, storing what was read...")
        stop.set()
