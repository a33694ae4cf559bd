# Maintenance mode: while the flag file exists, answer 503 (except health checks and
# requests that carry the flag file's bypass token, for an operator's smoke test).
import hmac
import os

from django.conf import settings
from django.http import HttpResponse

BYPASS_HEADER = "HTTP_X_MAINTENANCE_BYPASS"


class MaintenanceModeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        flag = settings.MAINTENANCE_FLAG
        if os.path.exists(flag) and request.path not in settings.MAINTENANCE_EXEMPT_PATHS and not self._bypass(flag, request):
            response = HttpResponse("Down for maintenance, back shortly.\n", status=503, content_type="text/plain")
            response["Retry-After"] = "120"
            return response
        return self.get_response(request)

    @staticmethod
    def _bypass(flag, request):
        """An empty flag (the runbook's `touch`) has no token: nothing bypasses it."""
        offered = request.META.get(BYPASS_HEADER, "")
        if not offered:
            return False
        try:
            with open(flag, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError:
            return False
        return bool(token) and hmac.compare_digest(token, offered)
