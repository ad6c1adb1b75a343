"""`manage.py prune`: remove the lines older than their channel's retention now
(RETENTION_DAYS, Channel.retention_days), in the bounded batches the running
ingest uses. Safe to run beside ingest. `--dry-run` counts them only."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messages_app import retention


class Command(BaseCommand):
    help = "Remove chat older than the retention (RETENTION_DAYS, per-channel overrides)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count the expired lines per channel, remove nothing",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.BATCH,
            help="lines deleted per transaction (default %(default)s)",
        )

    def handle(self, *args, dry_run: bool, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if dry_run:
            counts = [(expiry, n) for expiry, n in retention.count_expired() if n]
        else:
            removed = retention.prune(batch_size=batch_size)
            counts = sorted(removed.items(), key=lambda item: item[0].name)
        verb = "would remove" if dry_run else "removed"
        for expiry, count in counts:
            self.stdout.write(f"#{expiry.name}: {verb} {count} lines older than {expiry.days} "
                              f"days (sent before {expiry.cutoff:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
        total = sum(count for _expiry, count in counts)
        self.stdout.write(f"{verb} {total} expired lines" + (" (dry run)" if dry_run else ""))
