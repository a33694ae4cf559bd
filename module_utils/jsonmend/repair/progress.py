# Progress lines a second terminal can follow (tail -f), and the final statistics block.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.progress import ProgressLog, eta_seconds, format_duration

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ProgressLog", "eta_seconds", "format_duration", "progress_line", "stats_block"]


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
