# A long scan's progress: rows done, share of the key range, rate and ETA as lines a second
# terminal follows with tail -f (the same file format as the repair's). Every worker reports.
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.progress import ProgressLog, eta_seconds, format_duration

if TYPE_CHECKING:
    from collections.abc import Callable


def scan_progress_line(rows: int, fraction: float | None, rate: float | None, eta: float | None, corrupt: int, chunks: int, done: bool = False) -> str:
    """One line: rows read, share of the key range, rows per second, time left, corrupt rows so far."""
    percent = "%5.1f%%" % (100.0 * min(max(fraction or 0, 0), 1))
    return "%s scan%s rows=%d %s rate=%d rows/s eta=%s corrupt=%d chunks=%d" % (
        utc_iso(),
        " done" if done else "",
        rows,
        percent,
        int(rate or 0),
        format_duration(0.0 if done else eta),
        corrupt,
        chunks,
    )


class ScanProgress:
    """Counts what the workers have read and writes a line at most every `interval` seconds.

    The share done is by key (the keys of finished chunks over the whole key range) when the key
    is an integer, else by the catalog's row estimate (never shown above 99% before the end).
    """

    def __init__(self, path: str | None, interval: float, total_keys: int | None, estimated_rows: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.log = ProgressLog(path)
        self.interval = max(0.0, float(interval))
        self.total_keys = total_keys
        self.estimated_rows = estimated_rows
        self.clock = clock
        self.started = clock()
        self.last = self.started
        self.lock = threading.Lock()
        self.rows = self.keys = self.corrupt = self.chunks = 0

    def fraction(self) -> float | None:
        if self.total_keys:
            return min(1.0, self.keys / float(self.total_keys))
        if self.estimated_rows:
            return min(0.99, self.rows / float(self.estimated_rows))
        return None

    def add(self, rows: int, keys: int | None, corrupt: int) -> None:
        """One chunk (or range) read by a worker."""
        with self.lock:
            self.rows += rows
            self.keys += keys or 0
            self.corrupt += corrupt
            self.chunks += 1
            now = self.clock()
            if self.log.path and now - self.last >= self.interval:
                self.last = now
                self.log.write(self.line(now))

    def line(self, now: float, done: bool = False) -> str:
        elapsed = now - self.started
        fraction = 1.0 if done else self.fraction()
        rate = self.rows / elapsed if elapsed > 0 else None
        return scan_progress_line(self.rows, fraction, rate, eta_seconds(fraction, elapsed), self.corrupt, self.chunks, done)

    def finish(self) -> dict[str, Any]:
        """Write the last line and close the file."""
        with self.lock:
            self.log.write(self.line(self.clock(), done=True))
            self.log.close()
            return dict(rows=self.rows, corrupt=self.corrupt, chunks=self.chunks)
