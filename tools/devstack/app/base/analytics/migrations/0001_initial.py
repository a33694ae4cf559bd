# The table predates this migration in production, so it adopts the table as it is:
# CREATE TABLE IF NOT EXISTS with exactly the columns, CHECK and index names production
# has (jsonmend's tools/devstack/seed.py builds the same). Django's own CreateModel would
# name the indexes differently; the state below is what CreateModel would record.
from datetime import datetime

from django.db import migrations, models

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS `analytics_activityevent` (
 `id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
 `user_id` integer NOT NULL,
 `event_type` varchar(64) NOT NULL,
 `metadata` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL CHECK (json_valid(`metadata`)),
 `created_at` datetime(6) NOT NULL,
 KEY `analytics_activityevent_user_id` (`user_id`),
 KEY `analytics_activityevent_created_at` (`created_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(
            sql=CREATE_TABLE,
            reverse_sql="DROP TABLE `analytics_activityevent`",
            state_operations=[
                migrations.CreateModel(
                    name="ActivityEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("user_id", models.IntegerField(db_index=True)),
                        ("event_type", models.CharField(max_length=64)),
                        ("metadata", models.JSONField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(db_index=True, default=datetime.now)),
                    ],
                    options={"db_table": "analytics_activityevent"},
                ),
            ],
        ),
    ]
