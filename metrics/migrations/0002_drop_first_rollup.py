"""The first response rollup had no team, agent, reason or attribute slice, and a per-response
guard table the refresh no longer needs: both go, and 0003 creates the rollups anew (they are
rebuilt from the source rows by ``manage.py rebuild_rollups``)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("metrics", "0001_rollups")]

    operations = [
        migrations.DeleteModel(name="RolledUpResponse"),
        migrations.DeleteModel(name="ResponseDaily"),
    ]
