"""Tag sets belong to a user, no longer to a user in a channel
(messages_app/tag_sets.py): the room-id they held is the channel's twitch_id,
so one set serves every channel a user writes in, and `channel` stays set only
on the sets made before. Nothing is rewritten going forward: those sets still
rebuild their lines exactly, and the write path makes the new ones from now
on. Going back puts every tag of the lines that use a new set back on the row
(as migration 0015 does) and deletes those sets."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

from messages_app import batch_sql

USER_SETS = "SELECT id FROM messages_app_tagset WHERE channel_id IS NULL"


def fold_user_sets(apps, schema_editor):
    tag_sets_0015 = importlib.import_module("messages_app.migrations.0015_tag_sets")
    tag_sets_0015.fold(schema_editor.connection, f"tag_set_id IN ({USER_SETS})")
    with batch_sql.write_cursor() as cursor:
        cursor.execute("DELETE FROM messages_app_tagset WHERE channel_id IS NULL")


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0017_monthly_partitions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="tagset",
            name="channel",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="messages_app.channel",
            ),
        ),
        # Backwards, this runs first: no set may be left without a channel.
        migrations.RunPython(migrations.RunPython.noop, fold_user_sets),
    ]
