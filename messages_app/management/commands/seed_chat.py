import time
from datetime import timedelta
from itertools import islice

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from messages_app.chatgen import ChatGenerator
from messages_app.models import Channel
from messages_app.writes import store_batch


class Command(BaseCommand):
    help = (
        "Fill the archive with realistic fake chat through the write path, for "
        "development and benchmarks. Messages are spread over the last --days days."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument("--channels", type=int, default=8)
        parser.add_argument("--users", type=int, default=2_000)
        parser.add_argument("--days", type=float, default=7.0)
        parser.add_argument("--batch-size", type=int, default=1_000)
        parser.add_argument(
            "--seed", type=int, default=1, help="random seed (same seed, same chat)"
        )

    def handle(self, *args, **options) -> str:
        for name in ("messages", "channels", "users", "batch_size"):
            if options[name] < 1:
                self.stderr.write(f"--{name.replace('_', '-')} must be at least 1")
                raise SystemExit(2)
        generator = ChatGenerator(options["channels"], options["users"], seed=options["seed"])
        for name in generator.channels:
            Channel.objects.get_or_create(name=name)
        end = timezone.now()
        start = end - timedelta(days=options["days"])
        records = generator.records(options["messages"], start, end)
        started, stored, duplicates = time.monotonic(), 0, 0
        while batch := list(islice(records, options["batch_size"])):
            result = store_batch(batch)
            stored += result.stored
            duplicates += result.duplicates
            if options["verbosity"] > 1:
                self.stdout.write(f"{stored} stored")
        elapsed = time.monotonic() - started
        rate = stored / elapsed if elapsed else 0
        return f"stored {stored} messages ({duplicates} duplicates) in {elapsed:.1f}s, {rate:.0f}/s"
