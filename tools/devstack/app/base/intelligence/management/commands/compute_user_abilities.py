from collections import defaultdict

from django.core.management.base import BaseCommand

from analytics.models import ActivityEvent


class Command(BaseCommand):
    help = "Estimate each user's ability from their quiz answers."

    def handle(self, *args, **options):
        answered, right = defaultdict(int), defaultdict(int)
        events = ActivityEvent.objects.filter(event_type="quiz_answer_submitted", metadata__isnull=False)
        for event in events.iterator(chunk_size=2000):
            if isinstance(event.metadata, dict):
                answered[event.user_id] += 1
                right[event.user_id] += bool(event.metadata.get("correct"))
        mean = sum(right[u] / answered[u] for u in answered) / len(answered) if answered else 0.0
        self.stdout.write("compute_user_abilities: %d users, mean ability %.3f" % (len(answered), mean))
