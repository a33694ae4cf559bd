# The one clock of the engines: every time they record is UTC, in one of two text forms.
from __future__ import annotations

import datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # 2026-11-26T23:10:00Z: reports, ledgers, progress lines
COMPACT_FORMAT = "%Y%m%dT%H%M%SZ"  # 20261126T231000Z: inside run ids


def utc_now() -> datetime.datetime:
    """Now, timezone-aware UTC."""
    return datetime.datetime.now(datetime.UTC)


def utc_iso(when: datetime.datetime | None = None) -> str:
    """`when` (default now) as 2026-11-26T23:10:00Z."""
    return (when or utc_now()).strftime(ISO_FORMAT)


def utc_compact(when: datetime.datetime | None = None) -> str:
    """`when` (default now) as 20261126T231000Z, for ids."""
    return (when or utc_now()).strftime(COMPACT_FORMAT)
