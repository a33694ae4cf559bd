# Version 2: reads metadata with raw SQL, asking the server for objects only, so a
# non-object value (a number, a string, invalid text) can never reach json.loads().
import json
from collections import defaultdict

from django.core.management.base import BaseCommand
from django.db import connection

# "Is an object" in each server's words (MariaDB/MySQL: JSON_TYPE of valid text; PostgreSQL: jsonb_typeof).
IS_OBJECT = {
    "mysql": "JSON_VALID(metadata) AND JSON_TYPE(metadata) <=> 'OBJECT'",
    "postgresql": "jsonb_typeof(metadata::jsonb) IS NOT DISTINCT FROM 'object'",
}
OBJECTS = "SELECT metadata FROM analytics_activityevent WHERE event_type = %s AND metadata IS NOT NULL AND {is_object}"
NOT_OBJECTS = "SELECT COUNT(*) FROM analytics_activityevent WHERE event_type = %s AND metadata IS NOT NULL AND NOT ({is_object})"


class Command(BaseCommand):
    help = "Compute each question's difficulty from quiz answers."

    def handle(self, *args, **options):
        attempts, correct = defaultdict(int), defaultdict(int)
        is_object = IS_OBJECT[connection.vendor]
        with connection.cursor() as cursor:
            cursor.execute(NOT_OBJECTS.format(is_object=is_object), ["quiz_answer_submitted"])
            skipped = cursor.fetchone()[0]
            cursor.execute(OBJECTS.format(is_object=is_object), ["quiz_answer_submitted"])
            for (text,) in cursor.fetchall():
                # PyMySQL hands back the text; psycopg 3 decodes json/jsonb itself.
                metadata = json.loads(text) if isinstance(text, str) else text
                question = metadata.get("question_id")
                attempts[question] += 1
                correct[question] += bool(metadata.get("correct"))
        if skipped:
            self.stderr.write("compute_content_difficulty: skipped %d answer(s) whose metadata is not a JSON object" % skipped)
        hardest = sorted(attempts, key=lambda q: correct[q] / attempts[q])[:3]
        self.stdout.write("compute_content_difficulty: %d questions, %d answers, hardest %s" % (len(attempts), sum(attempts.values()), hardest))
