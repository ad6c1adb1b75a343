import django.db.models.deletion
from django.db import migrations, models

COUNTED = "(1, 4)"  # models.COUNTED_KINDS: PRIVMSG, USERNOTICE


def fill_buckets(apps, schema_editor):
    """The hours of every channel and the days of every user so far, from the
    stored messages: one GROUP BY pass over the messages table for each. The
    keys are written as the write path writes them (SQLite: UTC text
    "YYYY-MM-DD HH:00:00" and "YYYY-MM-DD"), so its upserts meet these rows."""
    if schema_editor.connection.vendor == "sqlite":
        hour, day = "strftime('%Y-%m-%d %H:00:00', sent_at)", "date(sent_at)"
    else:
        hour = "date_trunc('hour', sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        day = "(sent_at AT TIME ZONE 'UTC')::date"
    schema_editor.execute(
        "INSERT INTO messages_app_channelhour (channel_id, hour, count) "
        f"SELECT channel_id, {hour}, COUNT(*) FROM messages_app_message "
        f"WHERE kind IN {COUNTED} GROUP BY channel_id, {hour}"
    )
    schema_editor.execute(
        "INSERT INTO messages_app_userday (user_id, day, count) "
        f"SELECT user_id, {day}, COUNT(*) FROM messages_app_message "
        f"WHERE kind IN {COUNTED} AND user_id IS NOT NULL GROUP BY user_id, {day}"
    )


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0013_ingest_heartbeat")]

    operations = [
        migrations.CreateModel(
            name="ChannelHour",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("hour", models.DateTimeField()),
                ("count", models.BigIntegerField(default=0)),
                (
                    "channel",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="hours",
                        to="messages_app.channel",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("channel", "hour"), name="channelhour_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="UserDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("day", models.DateField()),
                ("count", models.BigIntegerField(default=0)),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="days",
                        to="messages_app.chatuser",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("user", "day"), name="userday_unique")
                ],
            },
        ),
        migrations.RunPython(fill_buckets, migrations.RunPython.noop),
    ]
