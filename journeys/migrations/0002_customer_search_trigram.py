"""Trigram index on the customer search haystack (PostgreSQL only; SQLite scans, which is fine
for the embedded default's size). pg_trgm is a trusted extension: the database owner may create it."""

from django.db import migrations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS journeys_customer_search_trgm "
        "ON journeys_customer USING gin (search gin_trgm_ops)"
    )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS journeys_customer_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("journeys", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
