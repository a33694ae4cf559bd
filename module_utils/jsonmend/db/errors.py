# Errors raised by the shared layer; modules turn them into fail_json messages.
from __future__ import annotations


class JsonmendError(Exception):
    """A failure that names what was attempted; safe to show to an operator."""


class BackupDefect(JsonmendError):
    """Evidence against a backup itself (its file missing, altered or truncated, or its restored
    copy differing from the manifest), as opposed to a failure of the machine or server that
    tried to use it (disk full, client missing, connection lost)."""
