# Errors raised by the shared layer; modules turn them into fail_json messages.
from __future__ import annotations


class JsonmendError(Exception):
    """A failure that names what was attempted; safe to show to an operator."""


class BackupDefect(JsonmendError):
    """Evidence against a backup itself (its file missing, altered or truncated, or its restored
    copy differing from the manifest), as opposed to a failure of the machine or server that
    tried to use it (disk full, client missing, connection lost)."""


def table_missing(database: str | None, table: str) -> JsonmendError:
    """The one text for a table the catalog does not show (missing, or not visible to the user)."""
    return JsonmendError("table %s.%s does not exist (or the user cannot see it)" % (database, table))
