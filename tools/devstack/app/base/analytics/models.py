from datetime import datetime

from django.db import models


class ActivityEvent(models.Model):
    """One thing a user did; `metadata` describes it (a JSON object, by convention only)."""

    user_id = models.IntegerField(db_index=True)
    event_type = models.CharField(max_length=64)
    metadata = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=datetime.now, db_index=True)

    class Meta:
        db_table = "analytics_activityevent"

    def __str__(self):
        return "%s #%s by user %s" % (self.event_type, self.pk, self.user_id)
