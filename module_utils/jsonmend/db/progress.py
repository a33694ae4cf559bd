# Progress a second terminal can follow (tail -f): durations, the ETA and the append-only file,
# shared by the engines (the repair's and undo's lines, the scan's).
from __future__ import annotations

import os


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
