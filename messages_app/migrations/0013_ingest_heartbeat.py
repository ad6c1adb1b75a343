from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0012_time_ordered_ids")]

    operations = [
        migrations.CreateModel(
            name="IngestHeartbeat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        choices=[("twitch", "Twitch"), ("demo", "Demo"), ("replay", "Replay")],
                        max_length=8,
                        unique=True,
                    ),
                ),
                ("connected", models.BooleanField(default=False)),
                ("channels_joined", models.PositiveIntegerField(default=0)),
                ("last_line_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.CharField(blank=True, default="", max_length=200)),
                ("interval_s", models.FloatField(default=5.0)),
                ("started_at", models.DateTimeField()),
                ("stopped_at", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField()),
            ],
        ),
    ]
