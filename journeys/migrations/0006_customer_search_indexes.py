"""PostgreSQL-only search and matching aids, measured in docs/performance.md:

- prefix indexes for one- and two-letter searches (too short for the trigram index);
- statistics on lower(email), without which PostgreSQL expects a 1,000-address lookup of the
  import to match the whole table and scans it instead of using the unique index.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX IF NOT EXISTS journeys_customer_name_prefix ON journeys_customer (lower(name) text_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS journeys_customer_email_prefix ON journeys_customer (email text_pattern_ops)",
    "CREATE STATISTICS IF NOT EXISTS journeys_customer_email_lower_stats ON (lower(email::text)) FROM journeys_customer",
    "ANALYZE journeys_customer",
]
BACKWARD = [
    "DROP STATISTICS IF EXISTS journeys_customer_email_lower_stats",
    "DROP INDEX IF EXISTS journeys_customer_email_prefix",
    "DROP INDEX IF EXISTS journeys_customer_name_prefix",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("journeys", "0005_journey_role_permissions")]

    operations = [migrations.RunPython(forward, backward)]
