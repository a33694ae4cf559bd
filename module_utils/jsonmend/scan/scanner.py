# The scan itself: one pass per key range (or chunk) gives every figure of the diagnosis, in
# partials that merge exactly (pure merge functions; unit tested).
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
    from ansible.module_utils.jsonmend.scan.progress import ScanProgress
    from ansible.module_utils.jsonmend.scan.target import Target


class Partial:
    """What one worker found in its range; partials add up."""

    def __init__(self, sample_limit: int = 0) -> None:
        self.classes = {}  # class -> [count, min pk, max pk]
        self.details = {}  # (group, class, day) -> [count, min ts, max ts]
        self.users = {}  # user -> [count, min ts, max ts] of every corrupt row (exact top-N after the merge)
        self.samples = []  # the first corrupt rows by key (at most sample_limit)
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

    def add_row(self, pk: Any, group: Any, user: Any, at: Any, day: Any, kind: str, track_user: bool = True) -> None:
        """Count one corrupt row in every figure but the samples."""
        self.add_classes([(kind, 1, pk, pk)])
        self.add_details([(group, kind, day, 1, at, at)])
        if track_user:
            self.add_users({iso(user): (1, at, at)})

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


def rank_users(users: Mapping[Any, Sequence[Any]], limit: int) -> list[dict[str, Any]]:
    """The `limit` users with most corrupt rows, from full per-user counts (exact whatever the split).

    Ties go to the lower user value (numbers as numbers), rows without a user last: the same
    list whichever worker counted which row.
    """
    if not limit:
        return []
    ranked = sorted(users.items(), key=lambda kv: (-kv[1][0], kv[0] is None, "" if kv[0] is None else kv[0]))[: int(limit)]
    return [dict(user=u, count=n, first_at=iso(a), last_at=iso(b)) for u, (n, a, b) in ranked]


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

    One statement per range (or chunk) classifies every row with one JSON parse and returns, in
    the same read: every row the parse-free prefilter lets through (a healthy object starts with
    '{'; every settled corrupt row does not) by key with its group, user, time and day; and the
    rest counted per class and bucket of neighbouring keys. Corrupt rows are rare, so the result
    is small. Then, by key only (no walk): the rows only the application's decoder can settle (a
    '{'-first candidate's bucket gives its key, or its first and last key), and the values of
    the samples.
    """

    def __init__(self, db: Database, target: Target, sample_limit: int = 0, progress: ScanProgress | None = None) -> None:
        self.db = db
        self.t = target
        self.sample_limit = sample_limit
        self.progress = progress

    def one_pass_sql(self, where: str) -> str:
        t = self.t

        def value(expr):  # a listed row is alone in its group: this is its value (or read by key after)
            return "NULL" if expr == "NULL" else self.db.dialect.group_value_expr(expr) or "NULL"

        # Where every row to report is listed, its key is its first and last: no aggregate over every row.
        span = "NULL, NULL" if t.lists_every_suspect else "MIN(%s), MAX(%s)" % (t.pk_sql, t.pk_sql)
        return "SELECT %s AS cls, %s AS row_key, %s AS bucket, COUNT(*), %s, %s, %s, %s, %s FROM %s WHERE %s GROUP BY cls, row_key, bucket" % (
            t.cls_sql,
            t.row_key_sql,
            t.bucket_sql,
            span,
            value(t.group_sql),
            value(t.user_sql),
            value(t.ts_sql),
            value(t.day_sql),
            t.table_sql,
            where,
        )

    def scan_slice(self, where: str, args: Sequence[Any], part: Partial) -> tuple[int, int]:
        """Read the rows of `where` once and add every figure to `part` (whose samples come before these keys).

        Returns (rows read, corrupt rows found).
        """
        listed, exact, spans = [], {}, []
        rows_read = 0
        for cls, row_key, _bucket, count, low, high, group, user, at, day in self.db.query(self.one_pass_sql(where), args):
            count = int(count)
            if row_key is not None:
                low = high = row_key  # a listed row's group holds that row alone
            rows_read += count
            if cls in NOT_CORRUPT:
                part.add_classes([(cls, count, low, high)])
            elif row_key is not None and cls not in CANDIDATES:
                listed.append((row_key, group, user, at, day, cls))
            elif row_key is not None or count <= 2:
                # A candidate, or a bucket of at most two: its first and last key are its rows.
                exact.update((pk, cls) for pk in (low, high))
            else:
                spans.append((low, high, cls))
        part.chunks += 1
        if listed and self.db.dialect.group_value_expr(self.t.pk_sql) is None:
            listed = self.listed_values(listed)
        settled = self.settle(exact, spans)
        track_user = bool(self.t.user)
        for pk, group, user, at, day, kind, _value, _length in settled:
            if kind in NOT_CORRUPT:
                part.add_classes([(kind, 1, pk, pk)])
            else:
                part.add_row(pk, group, user, at, day, kind, track_user)
        for pk, group, user, at, day, kind in listed:
            part.add_row(pk, group, user, at, day, kind, track_user)
        corrupt = [row for row in settled if row[5] not in NOT_CORRUPT]
        self.add_samples(part, listed, corrupt)
        return rows_read, len(listed) + len(corrupt)

    def listed_values(self, listed: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The listed rows' group, user and times read by key (on the scan's one snapshot), where the
        one pass cannot carry them without an aggregate over every row (PostgreSQL)."""
        t = self.t
        found = {}
        keys = [row[0] for row in listed]
        for i in range(0, len(keys), CANDIDATE_BATCH):
            keyed, args = self.db.dialect.in_list(t.pk_sql, keys[i : i + CANDIDATE_BATCH])
            rows = self.db.query(
                "SELECT %s, %s, %s, %s, %s FROM %s WHERE %s" % (t.pk_sql, t.group_sql, t.user_sql, t.ts_sql, t.day_sql, t.table_sql, keyed), args
            )
            found.update((row[0], row[1:]) for row in rows)
        return [(row[0],) + tuple(found[row[0]]) + (row[5],) for row in listed]

    def settle(self, exact: Mapping[Any, str], spans: Sequence[tuple[Any, Any]]) -> list[tuple[Any, ...]]:
        """Read the candidate rows by key and label each with what the application's decoder reads."""
        t = self.t
        columns = "%s, %s, %s, %s, %s, %s, %s" % (t.pk_sql, t.group_sql, t.user_sql, t.ts_sql, t.day_sql, t.col_sql, t.length_sql)
        out = []
        keys = sorted(exact)
        for i in range(0, len(keys), CANDIDATE_BATCH):
            batch = keys[i : i + CANDIDATE_BATCH]
            keyed, keys_args = self.db.dialect.in_list(t.pk_sql, batch)
            rows = self.db.query("SELECT %s FROM %s WHERE %s" % (columns, t.table_sql, keyed), keys_args)
            for pk, group, user, at, day, value, length in rows:
                out.append((pk, group, user, at, day, appjson.resolve(exact[pk], value, t.decoder), value, length))
        # A bucket of three or more: read that bucket's stretch of keys (at most BUCKET_KEYS rows), its class
        # only, and only its unlisted rows: a listed candidate (PostgreSQL's text labels '[1]' both) is in `exact`.
        for i in range(0, len(spans), 100):
            batch = spans[i : i + 100]
            where = " OR ".join(["(%s >= %%s AND %s <= %%s AND (%s) = %%s AND (%s) IS NULL)" % (t.pk_sql, t.pk_sql, t.cls_sql, t.row_key_sql)] * len(batch))
            rows = self.db.query("SELECT %s, %s FROM %s WHERE %s" % (columns, t.cls_sql, t.table_sql, where), [x for span in batch for x in span])
            for pk, group, user, at, day, value, length, label in rows:
                out.append((pk, group, user, at, day, appjson.resolve(label, value, t.decoder), value, length))
        return out

    def add_samples(self, part: Partial, listed: Sequence[tuple[Any, ...]], settled: Sequence[tuple[Any, ...]]) -> None:
        """The first corrupt rows of this slice by key, while `part` has room: values read by key."""
        room = self.sample_limit - len(part.samples)
        if room <= 0:
            return
        chosen = sorted([(row[0], False, row) for row in listed] + [(row[0], True, row) for row in settled], key=lambda x: x[0])[:room]
        values = {}
        wanted = [pk for pk, has_value, _row in chosen if not has_value]
        if wanted:
            t = self.t
            keyed, keys_args = self.db.dialect.in_list(t.pk_sql, wanted)
            rows = self.db.query("SELECT %s, %s, %s FROM %s WHERE %s" % (t.pk_sql, t.value_sql, t.length_sql, t.table_sql, keyed), keys_args)
            values = dict((pk, (value, length)) for pk, value, length in rows)
        samples = []
        for pk, has_value, row in chosen:
            value, length = (row[6], row[7]) if has_value else values.get(pk, (None, 0))
            samples.append(sample_entry(pk, row[1], row[2], row[3], row[5], value, length))
        part.add_samples(samples)

    def scan_range(self, low: Any, high: Any, chunk_size: int) -> Partial:
        """Scan keys in [low, high]; aggregate (chunk_size 0) or keyset chunks."""
        part = Partial(self.sample_limit)
        pk = self.t.pk_sql
        if not chunk_size:
            self.report(self.scan_slice("%s >= %%s AND %s <= %%s" % (pk, pk), (low, high), part), low, True, high)
            return part
        walker = KeysetWalker(self.db, self.t.table_sql, pk, low, high)
        while True:
            chunk = walker.next_chunk(chunk_size)
            if chunk is None:
                return part
            self.report(self.scan_slice(chunk.where(pk), chunk.args(), part), chunk.low, chunk.low_inclusive, chunk.high)

    def report(self, found: tuple[int, int], low: Any, low_inclusive: bool, high: Any) -> None:
        """Tell the progress what a slice read: its rows, its corrupt rows and, for an integer key, its keys."""
        if self.progress is None:
            return
        keys = high - low + (1 if low_inclusive else 0) if self.t.pk_is_integer else None
        self.progress.add(found[0], keys, found[1])
