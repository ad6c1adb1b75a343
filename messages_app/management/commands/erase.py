"""`manage.py erase`: erase what is stored of every opted-out user and channel
now, in the same bounded batches the running ingest uses (for an archive whose
ingest is stopped, or to finish at once). Safe to run beside ingest."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from messages_app import erasure
from messages_app.models import OptOut


class Command(BaseCommand):
    help = "Erase the stored chat of opted-out users and channels (bounded batches)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=erasure.BATCH,
            help="messages deleted per transaction (default %(default)s)",
        )

    def handle(self, *args, batch_size: int, **options) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        pending = OptOut.objects.filter(erased_at__isnull=True).count()
        erased = erasure.erase_pending(batch_size=batch_size)
        self.stdout.write(f"erased {erased} lines of {pending} opt-outs")
