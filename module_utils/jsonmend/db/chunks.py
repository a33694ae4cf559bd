# Keyset walking of a table by its primary key: ranges for parallel workers and chunk
# bounds found through the index, never OFFSET over the data.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ansible.module_utils.jsonmend.db.connection import Database


def split_range(low: int | None, high: int | None, parts: int) -> list[tuple[int, int]]:
    """Split the inclusive integer range [low, high] into at most `parts` contiguous ranges."""
    if low is None or high is None or high < low:
        return []
    parts = max(1, min(int(parts), high - low + 1))
    span = high - low + 1
    bounds = []
    start = low
    for i in range(parts):
        size = span // parts + (1 if i < span % parts else 0)
        bounds.append((start, start + size - 1))
        start += size
    return bounds


class Chunk:
    """Rows with key in (low, high] or [low, high]: `where` and `args` select them."""

    __slots__ = ("low", "low_inclusive", "high")

    def __init__(self, low: Any, low_inclusive: bool, high: Any) -> None:
        self.low = low
        self.low_inclusive = low_inclusive
        self.high = high

    def where(self, pk_sql: str) -> str:
        return "%s %s %%s AND %s <= %%s" % (pk_sql, ">=" if self.low_inclusive else ">", pk_sql)

    def args(self) -> tuple[Any, Any]:
        return (self.low, self.high)

    def __repr__(self):
        return "Chunk(%s%r, %r]" % ("[" if self.low_inclusive else "(", self.low, self.high)


class KeysetWalker:
    """Walk [start, end] of a table's key in chunks whose size may change at every step.

    The next bound comes from an index-only probe (`LIMIT 1 OFFSET size-1` on the key),
    so a chunk costs the same wherever it lies in the table. `where` (with `where_args`) is a
    fixed extra condition, e.g. one run's rows of a quarantine table keyed (run_id, key).
    """

    def __init__(
        self,
        db: Database,
        table_sql: str,
        pk_sql: str,
        start: Any,
        end: Any,
        start_inclusive: bool = True,
        where: str | None = None,
        where_args: Iterable[Any] = (),
    ) -> None:
        self.db = db
        self.where = where
        self.where_args = tuple(where_args)
        self.table_sql = table_sql
        self.pk_sql = pk_sql
        self.position = start
        self.inclusive = start_inclusive
        self.end = end
        self.done = start is None or end is None

    def next_chunk(self, size: int) -> Chunk | None:
        """Return the next Chunk of about `size` rows, or None when the range is walked."""
        if self.done:
            return None
        size = max(1, int(size))
        probe = "SELECT %s FROM %s WHERE %s%s %s %%s AND %s <= %%s ORDER BY %s LIMIT 1 OFFSET %d" % (
            self.pk_sql,
            self.table_sql,
            "%s AND " % self.where if self.where else "",
            self.pk_sql,
            ">=" if self.inclusive else ">",
            self.pk_sql,
            self.pk_sql,
            size - 1,
        )
        row = self.db.query_one(probe, self.where_args + (self.position, self.end))
        high = self.end if row is None else row[0]
        chunk = Chunk(self.position, self.inclusive, high)
        if row is None or high == self.end:
            self.done = True
        self.position, self.inclusive = high, False
        return chunk
