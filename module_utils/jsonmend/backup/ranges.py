# What a restore would change, counted from content: per-key-range checksums kept in the
# backup's manifest and per-row digests kept beside the dump, both read in the dump's snapshot;
# later the live table is summed per range (one read) and only ranges that differ are drilled
# into, row by row (the pt-table-checksum / pt-table-sync approach, with the backup as one side).
from __future__ import annotations

import hashlib
import math
import zlib
from typing import TYPE_CHECKING, Any, BinaryIO

from ansible.module_utils.jsonmend.backup.checksums import (
    compare_checksums,
    hash_functions,
    row_expression,
    table_checksum,
    table_columns,
)
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.inspector import INTEGER_TYPES

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database

FORMAT = "jsonmend-ranges/1"
# Ranges per table at most, so the manifest stays small (about 70 bytes a range) whatever the
# table's size; a range that differs costs one read of its rows on each side.
MAX_RANGES = 2048
MIN_RANGE_ROWS = 1000
FETCH_ROWS = 5000
SAMPLE_KEYS = 10
# INTERVAL() compares as DOUBLE beyond this, where neighbouring keys would share a value.
EXACT_DOUBLE = 2**53
BINARY_TYPES = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob", "bytea")
COUNTS = ("rows_inserted_since", "rows_changed_since", "rows_deleted_since")


def range_rows_for(estimated_rows: int | None) -> int:
    """Rows per range: at least MIN_RANGE_ROWS, and few enough ranges for the manifest."""
    return max(MIN_RANGE_ROWS, int(math.ceil(max(0, int(estimated_rows or 0)) / float(MAX_RANGES))))


def key_kind(data_type: str | None) -> str:
    """How a key's values travel through JSON: int, bytes (as hex) or text."""
    data_type = (data_type or "").lower()
    if data_type in INTEGER_TYPES:
        return "int"
    if data_type in BINARY_TYPES:
        return "bytes"
    return "text"


def key_to_json(value: Any, kind: str) -> int | str:
    """A key value as the manifest and the digest file hold it."""
    if kind == "int":
        return int(value)
    if kind == "bytes":
        return bytes(value).hex()
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return str(value)


def key_from_json(value: int | str, kind: str) -> int | str | bytes:
    """A stored key value as a statement parameter."""
    if kind == "bytes":
        return bytes.fromhex(value)
    return value


def key_data_type(db: Database, database: str, table: str, key: str) -> str:
    schema, name = db.dialect.table_location(table, database)
    row = db.query_one(
        "SELECT LOWER(DATA_TYPE) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        (schema, name, key),
    )
    if not row:
        raise JsonmendError("key column %s is not in %s.%s" % (key, database, table))
    return row[0]


def _key_text(d, key, kind):
    """SQL for a key as the digests spell it (Dialect.digest_key_text)."""
    return d.digest_key_text(d.qn(key), kind)


def _source(d, database, table):
    """The table's qualified name: database.table on MariaDB/MySQL, schema.table on PostgreSQL."""
    schema, name = d.table_location(table, database)
    return "%s.%s" % (d.qn(schema), d.qn(name))


def _hashes(d, columns):
    tag, hashes = hash_functions(d)
    row = row_expression(columns, d)
    return tag, [h % row for h in hashes]


class DigestFile:
    """The per-row digests of a backup: one gzip member per range, appended to one file, so
    a range can be read alone from its offset. Written only inside the backup's snapshot."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.offset = 0
        self.sha = hashlib.sha256()

    def add(self, text: bytes) -> tuple[int, int]:
        """Append one range's digests ("key,hash1,hash2;..."); returns (offset, length)."""
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        data = packer.compress(text) + packer.flush()
        self.handle.write(data)
        self.sha.update(data)
        start, self.offset = self.offset, self.offset + len(data)
        return start, len(data)


def range_rows_cap(kind: str) -> int:
    """Rows per range at most, so one range's digests stay far below max_allowed_packet."""
    return 50000 if kind == "int" else 20000


def write_table_digests(
    db: Database,
    database: str,
    table: str,
    key: str,
    digest_file: DigestFile,
    estimated_rows: int = 0,
    columns: list[tuple[str, bool]] | None = None,
) -> dict[str, Any]:
    """Read every row of `table` in key order on `db` (the caller's snapshot), one range per
    statement: the table's count and checksum (as checksums.table_checksum gives them), its key
    bounds, and its ranges. The server hashes and joins each range's digests, so Python handles
    one string per range, never a row, and memory stays flat whatever the table's size.
    Names come from the catalog and are quoted, never refused (a hyphen, an accent).
    """
    d = db.dialect
    columns = columns or table_columns(db, table, database)
    kind = key_kind(key_data_type(db, database, table, key))
    per_range = min(range_rows_cap(kind), range_rows_for(estimated_rows))
    tag, (h1, h2) = _hashes(d, columns)
    inner = "SELECT %s AS jm_k, %s AS jm_kx, %s AS jm_h1, %s AS jm_h2 FROM %s%%s ORDER BY %s LIMIT %d" % (
        d.qn(key),
        _key_text(d, key, kind),
        h1,
        h2,
        _source(d, database, table),
        d.qn(key),
        per_range,
    )
    outer = (
        "SELECT COUNT(*), SUM(CASE WHEN jm_h1 IS NULL OR jm_h2 IS NULL THEN 1 ELSE 0 END), SUM(jm_h1), SUM(jm_h2), "
        + d.key_bounds_sql("jm_k", kind)
        + ", "
        + d.digest_join_sql("jm_kx", "jm_h1", "jm_h2", "jm_k")
        + " FROM (%s) jm_range"
    )
    d.digest_session(db)
    ranges, totals, first, last = [], [0, 0, 0], None, None
    while True:
        if last is None:
            statement, args = outer % (inner % ""), ()
        else:
            statement, args = outer % (inner % (" WHERE %s > %%s" % d.qn(key))), (last,)
        count, unhashable, s1, s2, low, high, text = db.query_one(statement, args)
        count = int(count or 0)
        if not count:
            break
        if int(unhashable or 0):
            raise JsonmendError(
                "could not checksum %s.%s: a row is larger than the server's max_allowed_packet, so the server"
                " cannot hash it; raise max_allowed_packet for this session's server" % (database, table)
            )
        text = text.encode() if isinstance(text, str) else bytes(text)
        if text.count(b";") + 1 != count:
            raise JsonmendError("the digests of %s.%s from key %s were cut short by the server (group_concat_max_len)" % (database, table, low))
        offset, length = digest_file.add(text)
        ranges.append([key_to_json(low, kind), count, int(s1), int(s2), offset, length])
        totals = [totals[0] + count, totals[1] + int(s1), totals[2] + int(s2)]
        first = low if first is None else first
        last = high
        if count < per_range:
            break
    return dict(
        rows=totals[0],
        checksum="%s:%d:%d" % (tag, totals[1], totals[2]),
        algorithm=tag,
        columns=[name for name, _is_char in columns],
        bounds=(first, last),
        ranges=dict(format=FORMAT, key=key, key_kind=kind, algorithm=tag, range_rows=per_range, ranges=ranges),
    )


# -- comparing the live table with a backup ----------------------------------------------
def _range_bounds(index, i):
    """(low or None, high or None) of range i: the first is open below, the last above."""
    ranges = index["ranges"]
    low = ranges[i][0] if i > 0 else None
    high = ranges[i + 1][0] if i + 1 < len(ranges) else None
    return low, high


def _range_where(db, index, i):
    key = db.dialect.qn(index["key"])
    low, high = _range_bounds(index, i)
    conditions, args = [], []
    if low is not None:
        conditions.append("%s >= %%s" % key)
        args.append(key_from_json(low, index["key_kind"]))
    if high is not None:
        conditions.append("%s < %%s" % key)
        args.append(key_from_json(high, index["key_kind"]))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), args


def live_range_sums(db: Database, database: str, table: str, columns: Sequence[tuple[str, bool]], index: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """[(rows, sum 1, sum 2)] of the live table over the backup's ranges, in one read.

    Integer keys are mapped to their range on the server (INTERVAL's binary search over the
    ranges' first keys) in one GROUP BY; other keys are read one range at a time by key range.
    """
    d = db.dialect
    tag, (h1, h2) = _hashes(d, columns)
    if tag != index["algorithm"]:
        raise JsonmendError("the backup's ranges were summed with %s, this server offers %s" % (index["algorithm"], tag))
    sums = "SUM(%s), SUM(%s)" % (h1, h2)
    source = _source(d, database, table)
    ranges = index["ranges"]
    result = [(0, 0, 0)] * max(1, len(ranges))
    firsts = [r[0] for r in ranges[1:]]
    if index["key_kind"] == "int" and all(abs(int(v)) < EXACT_DOUBLE for v in firsts):
        bucket = d.range_bucket_expr(d.qn(index["key"]), firsts)
        for number, count, s1, s2 in db.query("SELECT %s AS jm_range, COUNT(*), %s FROM %s GROUP BY jm_range" % (bucket, sums, source)):
            result[int(number)] = (int(count), int(s1 or 0), int(s2 or 0))
        return result
    for i in range(len(result)):
        where, args = _range_where(db, index, i) if ranges else ("", [])
        count, s1, s2 = db.query_one("SELECT COUNT(*), %s FROM %s%s" % (sums, source, where), tuple(args))
        result[i] = (int(count), int(s1 or 0), int(s2 or 0))
    return result


def live_range_rows(
    db: Database,
    database: str,
    table: str,
    columns: Sequence[tuple[str, bool]],
    index: Mapping[str, Any],
    i: int,
    timestamp_column: str | None = None,
) -> list[tuple[str, int, int, Any]]:
    """[(key as the digests spell it, hash 1, hash 2, timestamp or None)] of the live rows in range i, in key order."""
    d = db.dialect
    _tag, (h1, h2) = _hashes(d, columns)
    stamp = ", %s" % d.qn(timestamp_column) if timestamp_column else ""
    where, args = _range_where(db, index, i) if index["ranges"] else ("", [])
    rows = db.query(
        "SELECT %s, %s, %s%s FROM %s%s ORDER BY %s"
        % (_key_text(d, index["key"], index["key_kind"]), h1, h2, stamp, _source(d, database, table), where, d.qn(index["key"])),
        tuple(args),
    )
    return [(_spelt(r[0]), int(r[1]), int(r[2]), r[3] if timestamp_column else None) for r in rows]


def _spelt(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def read_range(path: str, entry: Sequence[Any]) -> list[tuple[str, int, int]]:
    """The backup's [(key as the digests spell it, hash 1, hash 2)] of one range, from its gzip member."""
    with open(path, "rb") as handle:
        handle.seek(entry[4])
        data = handle.read(entry[5])
    if len(data) != entry[5]:
        raise JsonmendError("digest file %s ends before the range at byte %d" % (path, entry[4]))
    try:
        text = zlib.decompress(data, 31).decode("ascii")
        rows = [item.split(",") for item in text.split(";")]
        return [(k, int(a), int(b)) for k, a, b in rows]
    except (zlib.error, ValueError, UnicodeDecodeError) as exc:
        raise JsonmendError("digest file %s has an unreadable range at byte %d: %s" % (path, entry[4], exc)) from None


def display_key(spelt: str, kind: str) -> int | str:
    """A key for people: integers as numbers, text keys decoded, binary keys in hex."""
    if kind == "int":
        return int(spelt)
    if kind == "bytes":
        return spelt.lower()
    return bytes.fromhex(spelt).decode("utf-8", "replace")


def digests_problem(manifest: Mapping[str, Any]) -> str | None:
    """None when the digest file is there and unaltered, else why the counts cannot be trusted."""
    info = manifest.get("digests") or {}
    path = manifest.get("digests_path")
    if not info or not path:
        return "backup %s was taken without per-row digests (before jsonmend kept them, or with backup_row_digests off)" % manifest.get("id")
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    except OSError as exc:
        return "the digest file of backup %s cannot be read (%s)" % (manifest.get("id"), exc.strerror or exc)
    if sha.hexdigest() != info.get("sha256"):
        return "the digest file %s does not match its manifest (altered or truncated after the backup)" % path
    return None


class _Class:
    """Keys of one kind of difference: how many, the first and last, a few samples, timestamps."""

    def __init__(self, samples: int, kind: str) -> None:
        self.kind = kind
        self.count = 0
        self.first = self.last = None
        self.samples = []
        self.limit = samples
        self.stamps = []

    def add(self, key: str, stamp: Any = None) -> None:
        self.count += 1
        if self.first is None:
            self.first = key
        self.last = key
        if len(self.samples) < self.limit:
            self.samples.append(key)
        if stamp is not None:
            self.stamps = [min(self.stamps[0], stamp), max(self.stamps[1], stamp)] if self.stamps else [stamp, stamp]

    def describe(self) -> dict[str, Any]:
        shown = [None if k is None else display_key(k, self.kind) for k in [self.first, self.last] + self.samples]
        found = dict(first_key=shown[0], last_key=shown[1], sample_keys=shown[2:])
        if self.stamps:
            found["timestamps"] = [_plain(v) for v in self.stamps]
        return found


def _plain(value):
    return value.isoformat(sep=" ") if hasattr(value, "isoformat") else value


def compare_with_backup(
    db: Database, manifest: Mapping[str, Any], table: str, database: str, samples: int = SAMPLE_KEYS, timestamp_column: str | None = None
) -> dict[str, Any]:
    """What restoring `table` from the backup would change in the live table, counted from content.

    Returns rows_inserted_since (live rows the backup lacks: a restore removes them),
    rows_changed_since (rows whose content differs: a restore puts the old content back),
    rows_deleted_since (backup rows no longer live: a restore brings them back), with the first,
    last and sample keys of each. A count is None, named in `unknown` with the `reason`, when
    the backup cannot tell it; never a guess. The timestamp column, when given, only adds the
    oldest and newest stamp of the inserted and changed rows, as context.
    """
    expected_rows = (manifest.get("rows") or {}).get(table)
    entry = dict(table=table, rows_in_backup=expected_rows, rows_now=None, differs=None, exact=False, unknown=list(COUNTS), reason=None)
    for name in COUNTS:
        entry[name] = None
    index = (manifest.get("ranges") or {}).get(table)
    columns_recorded = (manifest.get("columns") or {}).get(table)
    try:
        live_columns = dict(table_columns(db, table, database))
    except JsonmendError:
        # A table dropped since: the restore brings every row back.
        entry.update(
            rows_now=0, differs=True, rows_inserted_since=0, rows_changed_since=0, rows_deleted_since=expected_rows, exact=expected_rows is not None, unknown=[]
        )
        entry["reason"] = "the table no longer exists: the restore creates it with the backup's %s rows" % expected_rows
        if expected_rows is None:
            entry["unknown"] = ["rows_deleted_since"]
        return entry
    missing = [c for c in columns_recorded or [] if c not in live_columns]
    if missing:
        entry["reason"] = "columns %s of the backup are gone from the live table: rows cannot be compared" % ", ".join(missing)
        return entry
    columns = [(c, live_columns[c]) for c in columns_recorded or live_columns]
    if not index:
        why = (
            "backup %s holds no key ranges for %s (taken before jsonmend kept them, with backup_row_digests off, or the"
            " table has no single-column primary key)" % (manifest.get("id"), table)
        )
    else:
        why = digests_problem(manifest)
    if why:
        return _whole_table(db, manifest, table, database, columns, entry, why)
    live = live_range_sums(db, database, table, columns, index)
    backup_ranges = index["ranges"] or []
    classes = dict((name, _Class(samples, index["key_kind"])) for name in ("inserted", "changed", "deleted"))
    differing = 0
    for i, (count, s1, s2) in enumerate(live):
        stored = backup_ranges[i] if i < len(backup_ranges) else [None, 0, 0, 0]
        if (count, s1, s2) == (stored[1], stored[2], stored[3]):
            continue
        differing += 1
        try:
            before = read_range(manifest["digests_path"], stored) if stored[1] else []
        except JsonmendError as exc:
            return _whole_table(db, manifest, table, database, columns, entry, str(exc))
        _classify(before, live_range_rows(db, database, table, columns, index, i, timestamp_column), classes)
    entry.update(
        rows_now=sum(r[0] for r in live),
        differs=differing > 0,
        exact=True,
        unknown=[],
        ranges=len(live),
        ranges_differing=differing,
        rows_inserted_since=classes["inserted"].count,
        rows_changed_since=classes["changed"].count,
        rows_deleted_since=classes["deleted"].count,
        inserted=classes["inserted"].describe(),
        changed=classes["changed"].describe(),
        deleted=classes["deleted"].describe(),
    )
    return entry


def _whole_table(db, manifest, table, database, columns, entry, why):
    """Without usable ranges only the table's own checksum can be compared: identical means the
    restore changes nothing (every count 0); otherwise the counts stay unknown, never guessed."""
    live = table_checksum(db, table, columns=[c for c, _is_char in columns], database=database)
    recorded = dict(rows=entry["rows_in_backup"], checksum=(manifest.get("checksum") or {}).get(table))
    entry["rows_now"] = live["rows"]
    if recorded["checksum"] and compare_checksums(recorded, live) is None:
        entry.update(exact=True, unknown=[], differs=False, rows_inserted_since=0, rows_changed_since=0, rows_deleted_since=0)
        return entry
    entry["differs"] = True
    entry["reason"] = (
        "%s: the table differs from the backup (%s rows now, %s in the backup), but which rows were inserted, changed or deleted since is unknown"
        % (
            why,
            live["rows"],
            entry["rows_in_backup"],
        )
    )
    return entry


def _classify(before, after, classes):
    """Sort one range's rows into inserted, changed and deleted, keeping each in key order."""
    old = dict((row[0], (row[1], row[2])) for row in before)
    seen = set()
    for key, h1, h2, stamp in after:
        previous = old.get(key)
        if previous is None:
            classes["inserted"].add(key, stamp)
        else:
            seen.add(key)
            if previous != (h1, h2):
                classes["changed"].add(key, stamp)
    for row in before:
        if row[0] not in seen:
            classes["deleted"].add(row[0])


def summarize(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over tables: a total is None when any table's count is unknown."""
    totals = dict(exact=all(e["exact"] for e in entries), unknown=sorted(set(n for e in entries for n in e["unknown"])))
    for name in COUNTS:
        values = [e[name] for e in entries]
        totals[name] = None if any(v is None for v in values) else sum(values)
    return totals
