# Version 1: decodes metadata through the model's JSONField, then json.loads() it again
# when it is not a dict ("older clients sent metadata as a JSON string"). A number in the
# column reaches json.loads() as a float:
#   TypeError: the JSON object must be str, bytes or bytearray, not float
import json
from collections import defaultdict

from django.core.management.base import BaseCommand

from analytics.models import ActivityEvent


class Command(BaseCommand):
    help = "Compute each question's difficulty from quiz answers."

    def handle(self, *args, **options):
        attempts, correct = defaultdict(int), defaultdict(int)
        events = ActivityEvent.objects.filter(event_type="quiz_answer_submitted", metadata__isnull=False)
        for event in events.iterator(chunk_size=2000):
            metadata = event.metadata
            if not isinstance(metadata, dict):
                metadata = json.loads(metadata)
            question = metadata.get("question_id")
            attempts[question] += 1
            correct[question] += bool(metadata.get("correct"))
        hardest = sorted(attempts, key=lambda q: correct[q] / attempts[q])[:3]
        self.stdout.write("compute_content_difficulty: %d questions, %d answers, hardest %s" % (len(attempts), sum(attempts.values()), hardest))
