"""Full-text index over messages (PostgreSQL). The embedded SQLite default searches by LIKE."""

from django.db import migrations

# Must stay identical to inbox.selectors.MESSAGE_DOCUMENT for PostgreSQL to use the index.
INDEX = (
    "CREATE INDEX IF NOT EXISTS inbox_message_fulltext ON inbox_message USING gin "
    "(to_tsvector('simple'::regconfig, coalesce(subject, '') || ' ' || coalesce(text, '')))"
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS inbox_message_fulltext")


class Migration(migrations.Migration):
    dependencies = [("inbox", "0007_routing")]

    operations = [migrations.RunPython(forward, backward)]
