from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models


def validate_json_object(value):
    """metadata is a JSON object or SQL NULL: never a number, string, list or boolean."""
    if value is not None and not isinstance(value, dict):
        raise ValidationError(
            "metadata must be a JSON object, got %(kind)s",
            code="not_an_object",
            params={"kind": type(value).__name__},
        )


class ActivityEvent(models.Model):
    """One thing a user did; `metadata` describes it (a JSON object, enforced on save)."""

    user_id = models.IntegerField(db_index=True)
    event_type = models.CharField(max_length=64)
    metadata = models.JSONField(null=True, blank=True, validators=[validate_json_object])
    created_at = models.DateTimeField(default=datetime.now, db_index=True)

    class Meta:
        db_table = "analytics_activityevent"

    def __str__(self):
        return "%s #%s by user %s" % (self.event_type, self.pk, self.user_id)

    def save(self, *args, **kwargs):
        # Every write path (views, commands, shell) goes through save(): validate here,
        # not only in forms, so no code path can store a non-object again.
        self.full_clean()
        super().save(*args, **kwargs)
