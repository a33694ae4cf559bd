# Progress lines a second terminal can follow (tail -f), and the final statistics block.
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.clock import utc_iso

if TYPE_CHECKING:
    from collections.abc import Mapping


def format_duration(seconds: float | None) -> str:
    """1h02m03s / 4m05s / 6.2s; '?' when unknown."""
    if seconds is None or seconds < 0:
        return "?"
    if seconds < 60:
        return "%.1fs" % seconds
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return "%dh%02dm%02ds" % (hours, minutes, secs)
    return "%dm%02ds" % (minutes, secs)


def eta_seconds(done_fraction: float | None, elapsed: float) -> float | None:
    """Time left at the average pace so far, or None before there is a pace."""
    if not done_fraction or done_fraction <= 0 or elapsed <= 0:
        return None
    if done_fraction >= 1:
        return 0.0
    return elapsed * (1 - done_fraction) / done_fraction


def progress_line(
    kind: str,
    run_id: str,
    rows_done: int,
    fraction: float | None,
    rate: float | None,
    eta: float | None,
    changed: int,
    chunk_size: int,
    throttle_reason: str | None = None,
) -> str:
    """One progress line: rows done, percent, rate, ETA, rows changed, throttle reason."""
    percent = "%5.1f%%" % (100.0 * min(max(fraction or 0, 0), 1))
    line = "%s %s run=%s rows=%d %s rate=%d rows/s eta=%s changed=%d chunk=%d" % (
        utc_iso(),
        kind,
        run_id,
        rows_done,
        percent,
        int(rate or 0),
        format_duration(eta),
        changed,
        chunk_size,
    )
    if throttle_reason:
        line += " throttled: %s" % throttle_reason
    return line


def stats_block(kind: str, run_id: str, status: str, stats: Mapping[str, Any]) -> str:
    """The final statistics as aligned 'name: value' lines (also returned by the module)."""
    rows = [
        ("run", run_id),
        ("status", status),
        ("chunks", stats.get("chunks", 0)),
        ("rows examined", stats.get("rows_examined", 0)),
        ("rows changed", stats.get("rows_changed", 0)),
    ]
    for name, count in sorted((stats.get("actions") or {}).items()):
        rows.append(("  %s" % name, count))
    if stats.get("unwritable_rows"):
        rows.append(("unwritable", "%d (left as they were; in the quarantine with the reason)" % stats["unwritable_rows"]))
        for reason, count in sorted((stats.get("unwritable") or {}).items()):
            rows.append(("  %s" % reason, count))
    for name in ("restored", "conflicts"):
        if name in stats:
            rows.append((name, stats[name]))
    rows += [
        ("retries", stats.get("retries", 0)),
        ("throttle waits", "%d (%s)" % (stats.get("throttle_waits", 0), format_duration(stats.get("throttle_seconds", 0.0)))),
        ("time", format_duration(stats.get("duration_s", 0.0))),
        ("rate", "%d rows/s" % int(stats.get("rows_per_s", 0))),
    ]
    width = max(len(row[0]) for row in rows)
    lines = ["jsonmend %s statistics" % kind]
    lines += ["  %s : %s" % (name.ljust(width), value) for name, value in rows]
    return "\n".join(lines)


class ProgressLog:
    """Appends lines to a file (flushed at once) when a path is given; a no-op otherwise."""

    def __init__(self, path: str | None, mode: int = 0o640) -> None:
        self.path = path
        self.handle = None
        if path:
            directory = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o750, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
            self.handle = os.fdopen(fd, "a", buffering=1, encoding="utf-8")

    def write(self, text: str) -> None:
        if self.handle:
            self.handle.write(text.rstrip("\n") + "\n")
            self.handle.flush()

    def close(self) -> None:
        if self.handle:
            self.handle.close()
            self.handle = None
