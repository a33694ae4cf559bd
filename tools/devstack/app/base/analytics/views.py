# The pages quizsite serves: a home page, a health check and the quiz-answer API.
import json
import logging
import os

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from analytics.models import ActivityEvent

logger = logging.getLogger("analytics")


def home(request):
    return HttpResponse("quizsite\n", content_type="text/plain")


def health(request):
    """200 when the app can reach its database; names the running commit."""
    body = {"release": settings.RELEASE, "maintenance": os.path.exists(settings.MAINTENANCE_FLAG)}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return JsonResponse(dict(body, status="error", database=str(exc)[:200]), status=503)
    return JsonResponse(dict(body, status="ok", database="ok"))


@require_POST
def submit_quiz_answer(request):
    """Record a quiz answer: {"user_id": 7, "metadata": {"question_id": 1, "answer": "b", "correct": true}}."""
    try:
        payload = json.loads(request.body or b"{}")
        user_id = int(payload["user_id"])
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"error": "send a JSON object with an integer user_id"}, status=400)
    event = ActivityEvent(user_id=user_id, event_type="quiz_answer_submitted", metadata=payload.get("metadata"))
    try:
        event.save()
    except ValidationError as exc:
        logger.warning("ValidationError on ActivityEvent (user_id=%s): %s", user_id, "; ".join(exc.messages))
        return JsonResponse({"error": exc.message_dict}, status=400)
    return JsonResponse({"id": event.pk}, status=201)
