# A release with a bug: a renamed variable left behind. The command fails with NameError,
# which a deploy's verification must catch (and roll back).
from django.core.management.base import BaseCommand
from django.db.models import Count

from analytics.models import ActivityEvent


class Command(BaseCommand):
    help = "Score how well content matches each user's activity."

    def handle(self, *args, **options):
        per_user = ActivityEvent.objects.values("user_id").annotate(events=Count("id"))
        scores = {row["user_id"]: min(1.0, row["events"] / 50.0) for row in per_user}
        average = sum(scores.values()) / len(user_scores) if scores else 0.0  # noqa: F821 - the bug this release ships
        self.stdout.write("compute_match_scores: %d users, average score %.3f" % (len(scores), average))
