"""The client-nonce tag of new lines as 16 bytes in its own column, when it is
the 32 hex digits Twitch's clients send (messages_app/tag_sets.py): 17 bytes
stored instead of 51 of JSON. Lines stored before keep theirs in `tags`;
nothing is rewritten. Going back puts each packed nonce back in its row's
tags, then drops the column."""

from django.db import migrations, models

UNPACK = {
    "sqlite": """UPDATE messages_app_message
        SET tags = json_set(tags, '$."client-nonce"', lower(hex(client_nonce))),
            client_nonce = NULL
        WHERE client_nonce IS NOT NULL""",
    "postgresql": """UPDATE messages_app_message
        SET tags = tags || jsonb_build_object('client-nonce', encode(client_nonce, 'hex')),
            client_nonce = NULL
        WHERE client_nonce IS NOT NULL""",
}


def unpack_nonces(apps, schema_editor):
    schema_editor.execute(UNPACK[schema_editor.connection.vendor])


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0018_tag_sets_per_user"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="client_nonce",
            field=models.BinaryField(blank=True, max_length=16, null=True),
        ),
        # Backwards, this runs first: every nonce back in its row's tags.
        migrations.RunPython(migrations.RunPython.noop, unpack_nonces),
    ]
