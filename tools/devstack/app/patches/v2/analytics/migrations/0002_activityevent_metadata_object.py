# Records the metadata validator in the migration state; no SQL runs (validators live in Python).
from django.db import migrations, models

import analytics.models


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="activityevent",
            name="metadata",
            field=models.JSONField(blank=True, null=True, validators=[analytics.models.validate_json_object]),
        ),
    ]
