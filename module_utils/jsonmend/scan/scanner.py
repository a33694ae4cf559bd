# The scan itself: per-range class counts, details, settled candidates (the application's
# decoder), top users and samples, merged from partials.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.chunks import KeysetWalker
from ansible.module_utils.jsonmend.db.dialects import (
    CANDIDATES,
    DOUBLE_ENCODED,
)
from ansible.module_utils.jsonmend.scan.target import CANDIDATE_BATCH, NOT_CORRUPT, SAMPLE_VALUE_CHARS, iso

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database
    from ansible.module_utils.jsonmend.scan.target import Target


class Partial:
    """What one worker found in its range; partials add up."""

    def __init__(self, sample_limit: int = 0) -> None:
        self.classes = {}  # class -> [count, min pk, max pk]
        self.details = {}  # (group, class, day) -> [count, min ts, max ts]
        self.users = {}  # user -> [count, min ts, max ts] of decoder-settled corrupt rows
        self.samples = []  # decoder-settled corrupt rows, lowest keys first
        self.sample_limit = sample_limit
        self.chunks = 0

    def add_classes(self, rows: Iterable[Sequence[Any]]) -> None:
        for cls, count, low, high, *_rest in rows:
            entry = self.classes.setdefault(cls, [0, low, high])
            entry[0] += int(count)
            entry[1], entry[2] = min_none(entry[1], low), max_none(entry[2], high)

    def add_details(self, rows: Iterable[Sequence[Any]]) -> None:
        for group, cls, day, count, first, last in rows:
            entry = self.details.setdefault((group, cls, day), [0, first, last])
            entry[0] += int(count)
            entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)

    def add_users(self, users: Mapping[Any, Sequence[Any]]) -> None:
        for user, (count, first, last) in users.items():
            entry = self.users.setdefault(user, [0, first, last])
            entry[0] += count
            entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)

    def add_samples(self, samples: Iterable[dict[str, Any]]) -> None:
        self.samples = sorted(self.samples + list(samples), key=lambda s: s["id"])[: self.sample_limit]

    def merge(self, other: Partial) -> Partial:
        self.add_classes([(k,) + tuple(v) for k, v in other.classes.items()])
        self.add_details([k + tuple(v) for k, v in other.details.items()])
        self.add_users(other.users)
        self.add_samples(other.samples)
        self.chunks += other.chunks
        return self


def min_none(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def max_none(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def corrupt_range(classes: Mapping[str, Sequence[Any]]) -> tuple[Any, Any]:
    """(lowest, highest) key over the corrupted classes, or (None, None)."""
    low = high = None
    for cls, entry in classes.items():
        if cls not in NOT_CORRUPT and entry[0]:
            low, high = min_none(low, entry[1]), max_none(high, entry[2])
    return low, high


def sample_entry(pk: Any, group: Any, user: Any, at: Any, cls: str, value: Any, length: int | None) -> dict[str, Any]:
    value = iso(value)
    if isinstance(value, str) and len(value) > SAMPLE_VALUE_CHARS:
        value = value[:SAMPLE_VALUE_CHARS]
    return dict(
        id=iso(pk),
        group=iso(group),
        user=iso(user),
        at=iso(at),
        type="STRING" if cls == DOUBLE_ENCODED else cls,
        double_encoded=cls == DOUBLE_ENCODED,
        value=value,
        length=int(length or 0),
        truncated=int(length or 0) > len((value or "").encode("utf-8") if isinstance(value, str) else value or ""),
    )


class Scanner:
    """Runs the statements of one worker over one key range, in one snapshot.

    Pass 1 classifies every row (one JSON parse for a healthy object, like the runbook's own
    query, plus the decoder's prefilter). Rows only the application's decoder can settle are
    then read and decoded in Python, in key order and in batches. Everything else reads only
    the key range holding corrupted rows, behind a prefilter that needs no parse (a healthy
    object starts with '{', and so does every row the decoder settles).
    """

    def __init__(self, db: Database, target: Target, sample_limit: int = 0) -> None:
        self.db = db
        self.t = target
        self.sample_limit = sample_limit

    def classes(self, where: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        t = self.t
        return self.db.query(
            "SELECT %s AS cls, COUNT(*), MIN(%s), MAX(%s) FROM %s WHERE %s GROUP BY cls" % (t.cls_sql, t.pk_sql, t.pk_sql, t.table_sql, where),
            args,
        )

    def corrupt_filter(self) -> str:
        t = self.t
        return "%s AND %s" % (t.suspect_sql, t.corrupt_sql)

    def details(self, first: Any, last: Any) -> list[tuple[Any, ...]]:
        t = self.t
        return self.db.query(
            "SELECT %s AS grp, %s AS cls, %s AS day, COUNT(*), MIN(%s), MAX(%s) FROM %s"
            " WHERE %s >= %%s AND %s <= %%s AND %s GROUP BY grp, cls, day"
            % (t.group_sql, t.cls_sql, t.day_sql, t.ts_sql, t.ts_sql, t.table_sql, t.pk_sql, t.pk_sql, self.corrupt_filter()),
            (first, last),
        )

    def settle(self, part: Partial) -> None:
        """Decode the candidate rows of `part` in Python and count them by what the application reads."""
        found = dict((label, part.classes.pop(label)) for label in CANDIDATES if label in part.classes)
        if not found:
            return
        t = self.t
        low = min(entry[1] for entry in found.values())
        high = max(entry[2] for entry in found.values())
        users, samples = {}, []
        position, inclusive = low, True
        while True:
            rows = self.db.query(
                "SELECT %s, %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s %s %%s AND %s <= %%s AND %s ORDER BY %s LIMIT %d"
                % (
                    t.pk_sql,
                    t.group_sql,
                    t.user_sql,
                    t.ts_sql,
                    t.day_sql,
                    t.cls_sql,
                    t.col_sql,
                    t.length_sql,
                    t.table_sql,
                    t.pk_sql,
                    ">=" if inclusive else ">",
                    t.pk_sql,
                    t.candidate_sql,
                    t.pk_sql,
                    CANDIDATE_BATCH,
                ),
                (position, high),
            )
            for pk, group, user, at, day, label, value, length in rows:
                kind = appjson.resolve(label, value, t.decoder)
                part.add_classes([(kind, 1, pk, pk)])
                if kind in NOT_CORRUPT:
                    continue
                part.add_details([(group, kind, day, 1, at, at)])
                entry = users.setdefault(iso(user), [0, at, at])
                entry[0] += 1
                entry[1], entry[2] = min_none(entry[1], at), max_none(entry[2], at)
                if len(samples) < self.sample_limit:
                    samples.append(sample_entry(pk, group, user, at, kind, value, length))
            if len(rows) < CANDIDATE_BATCH:
                break
            position, inclusive = rows[-1][0], False
        if t.user:
            part.add_users(users)
        part.add_samples(samples)

    def add_details(self, part: Partial) -> None:
        first, last = corrupt_range(part.classes)
        if first is not None:
            part.add_details(self.details(first, last))

    def scan_range(self, low: Any, high: Any, chunk_size: int) -> Partial:
        """Scan keys in [low, high]; aggregate (chunk_size 0) or keyset chunks."""
        part = Partial(self.sample_limit)
        pk = self.t.pk_sql
        if not chunk_size:
            part.add_classes(self.classes("%s >= %%s AND %s <= %%s" % (pk, pk), (low, high)))
            part.chunks = 1
            self.add_details(part)
            self.settle(part)
            return part
        walker = KeysetWalker(self.db, self.t.table_sql, pk, low, high)
        while True:
            chunk = walker.next_chunk(chunk_size)
            if chunk is None:
                return part
            found = Partial(self.sample_limit)
            found.add_classes(self.classes(chunk.where(pk), chunk.args()))
            found.chunks = 1
            self.add_details(found)
            self.settle(found)
            part.merge(found)

    def top_users(self, first: Any, last: Any, limit: int, settled_users: Mapping[Any, Sequence[Any]]) -> list[dict[str, Any]]:
        """Users with most corrupted rows: SQL counts of settled rows plus the decoder's, merged exactly."""
        t = self.t
        if not t.user or not limit or first is None:
            return []

        def counts(where_users, args, row_limit):
            return self.db.query(
                "SELECT %s AS usr, COUNT(*) AS n, MIN(%s), MAX(%s) FROM %s WHERE %s >= %%s AND %s <= %%s AND %s%s"
                " GROUP BY usr ORDER BY n DESC, usr%s"
                % (t.user_sql, t.ts_sql, t.ts_sql, t.table_sql, t.pk_sql, t.pk_sql, self.corrupt_filter(), where_users, row_limit),
                (first, last) + tuple(args),
            )

        totals = dict((iso(u), [int(n), a, b]) for u, n, a, b in counts("", (), " LIMIT %d" % int(limit)))
        # A user outside the SQL top list can only enter it with rows the decoder settled: count those users exactly.
        extra = [u for u in settled_users if u not in totals and u is not None]
        if extra:
            for u, n, a, b in counts(" AND %s IN (%s)" % (t.user_sql, ", ".join(["%s"] * len(extra))), extra, ""):
                totals[iso(u)] = [int(n), a, b]
        for user, (n, a, b) in settled_users.items():
            entry = totals.setdefault(user, [0, a, b])
            entry[0] += n
            entry[1], entry[2] = min_none(entry[1], a), max_none(entry[2], b)
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], str(kv[0])))[: int(limit)]
        return [dict(user=u, count=n, first_at=iso(a), last_at=iso(b)) for u, (n, a, b) in ranked]

    def samples(self, first: Any, last: Any, limit: int, settled_samples: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        t = self.t
        if not limit or first is None:
            return []
        rows = self.db.query(
            "SELECT %s, %s, %s, %s, %s, %s, %s FROM %s WHERE %s >= %%s AND %s <= %%s AND %s ORDER BY %s LIMIT %d"
            % (
                t.pk_sql,
                t.group_sql,
                t.user_sql,
                t.ts_sql,
                t.cls_sql,
                t.value_sql,
                t.length_sql,
                t.table_sql,
                t.pk_sql,
                t.pk_sql,
                self.corrupt_filter(),
                t.pk_sql,
                int(limit),
            ),
            (first, last),
        )
        out = [sample_entry(*row) for row in rows] + list(settled_samples)
        return sorted(out, key=lambda s: s["id"])[: int(limit)]
