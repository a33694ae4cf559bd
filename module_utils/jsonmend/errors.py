# Errors raised by the shared layer; modules turn them into fail_json messages.
from __future__ import annotations


class JsonmendError(Exception):
    """A failure that names what was attempted; safe to show to an operator."""
