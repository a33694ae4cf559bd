# What a scan returns beyond its counts: the summary tables, the column check and the
# DBA's equivalent queries (pure functions; unit tested).
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.dialects import (
    CANDIDATES,
    DOUBLE_ENCODED,
    INVALID,
    OBJECT,
    SQL_NULL,
)
from ansible.module_utils.jsonmend.scan.scanner import corrupt_range, max_none, min_none
from ansible.module_utils.jsonmend.scan.target import NOT_JSON, PRIORITY_RANK, READABLE, STANDARD_TYPES, UNREADABLE, iso

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.scan.scanner import Partial
    from ansible.module_utils.jsonmend.scan.target import Target


def summarize(partial: Partial, priorities: Mapping[Any, str], default_priority: str) -> dict[str, Any]:
    """Turn merged partials into the counts, group and day tables (pure; unit tested)."""
    by_type = dict((name, 0) for name in STANDARD_TYPES)
    sql_null = double_encoded = 0
    for cls, entry in partial.classes.items():
        count = entry[0]
        if cls == SQL_NULL:
            sql_null += count
            continue
        if cls == DOUBLE_ENCODED:
            double_encoded += count
            cls = "STRING"
        by_type[cls] = by_type.get(cls, 0) + count
    total = sql_null + sum(by_type.values())
    corrupted = total - sql_null - by_type[OBJECT] - by_type[READABLE]

    groups, group_totals, days = {}, {}, {}
    for (group, cls, day), (count, first, last) in partial.details.items():
        key = (iso(group), cls)
        entry = groups.setdefault(key, [0, first, last])
        entry[0] += count
        entry[1], entry[2] = min_none(entry[1], first), max_none(entry[2], last)
        group_totals[iso(group)] = group_totals.get(iso(group), 0) + count
        if day is not None:
            days[iso(day)] = days.get(iso(day), 0) + count

    def priority(group):
        return priorities.get(group, default_priority) if group is not None else default_priority

    def rank(group, count):
        return (PRIORITY_RANK.get(priority(group), len(PRIORITY_RANK)), -count, str(group))

    by_group = [
        dict(
            group=group,
            type="STRING" if cls == DOUBLE_ENCODED else cls,
            double_encoded=cls == DOUBLE_ENCODED,
            count=count,
            priority=priority(group),
            first_at=iso(first),
            last_at=iso(last),
        )
        for (group, cls), (count, first, last) in groups.items()
    ]
    by_group.sort(key=lambda e: rank(e["group"], e["count"]) + (e["type"],))
    totals = [dict(group=g, count=n, priority=priority(g)) for g, n in group_totals.items()]
    totals.sort(key=lambda e: rank(e["group"], e["count"]))
    by_day = [dict(day=d, count=n) for d, n in sorted(days.items(), key=lambda kv: str(kv[0]), reverse=True)]

    first_id, last_id = corrupt_range(partial.classes)
    first_at = last_at = None
    for _count, first, last in partial.details.values():
        first_at, last_at = min_none(first_at, first), max_none(last_at, last)
    return dict(
        total_rows=total,
        corrupted_rows=corrupted,
        sql_null_rows=sql_null,
        object_rows=by_type[OBJECT],
        double_encoded_rows=double_encoded,
        invalid_rows=by_type[INVALID],
        unreadable_object_rows=by_type[UNREADABLE],
        readable_object_rows=by_type[READABLE],
        by_type=by_type,
        by_group=by_group,
        by_group_totals=totals,
        by_day=by_day,
        first_corrupt=dict(id=iso(first_id), at=iso(first_at)),
        last_corrupt=dict(id=iso(last_id), at=iso(last_at)),
    )


def column_check(summary: Mapping[str, Any], column: str, threshold: float, named_json: bool) -> dict[str, Any]:
    """Does the column look like JSON? The share of non-NULL values no JSON decoder reads (pure)."""
    non_null = summary["total_rows"] - summary["sql_null_rows"]
    not_json = sum(summary["by_type"].get(k, 0) for k in NOT_JSON)
    percent = round(100.0 * not_json / non_null, 1) if non_null else 0.0
    looks = not non_null or percent < threshold
    check = dict(non_null_rows=non_null, not_json_rows=not_json, percent=percent, threshold=threshold, looks_like_json=looks, named_json=bool(named_json))
    check["message"] = None
    if not looks:
        check["message"] = (
            "column %s does not look like a JSON column: %d of %d non-NULL values (%.1f%%) are not valid JSON (threshold %s%%)."
            % (column, not_json, non_null, percent, threshold)
        ) + (
            " It was named as JSON (column_is_json), so the cleanup repairs it."
            if named_json
            else " Check the column name; the cleanup refuses it unless it is named as JSON (jsonmend_column_is_json=yes)."
        )
    return check


def dba_queries(target: Target, sample_limit: int, top_users: int) -> list[dict[str, str]]:
    """The scan's statements over the whole table, for a DBA to run by hand (read-only)."""
    t = target
    corrupt = "WHERE %s" % t.corrupt_sql
    note = ""
    if t.decoder == appjson.PYTHON:
        note = " (rows labelled %s are settled by Python's json.loads, the application's decoder)" % " and ".join(CANDIDATES)
    queries = [
        dict(
            title="Type distribution (invalid text counted apart from SQL NULL)%s" % note,
            statement="SELECT %s AS json_type, COUNT(*) AS row_count FROM %s GROUP BY json_type ORDER BY row_count DESC" % (t.cls_sql, t.table_sql),
        ),
    ]
    if t.group_by:
        queries.append(
            dict(
                title="Corrupted rows by %s and type" % t.group_by,
                statement="SELECT %s AS grp, %s AS json_type, COUNT(*) AS row_count FROM %s %s GROUP BY grp, json_type ORDER BY row_count DESC"
                % (t.group_sql, t.cls_sql, t.table_sql, corrupt),
            )
        )
    if t.timestamp:
        queries.append(
            dict(
                title="Corrupted rows by day",
                statement="SELECT %s AS day, COUNT(*) AS corrupted_count FROM %s %s GROUP BY day ORDER BY day DESC" % (t.day_sql, t.table_sql, corrupt),
            )
        )
    if t.user and top_users:
        queries.append(
            dict(
                title="Users with the most corrupted rows",
                statement="SELECT %s AS usr, COUNT(*) AS corrupted_count FROM %s %s GROUP BY usr ORDER BY corrupted_count DESC LIMIT %d"
                % (t.user_sql, t.table_sql, corrupt, int(top_users)),
            )
        )
    if sample_limit:
        queries.append(
            dict(
                title="Sample corrupted rows",
                statement="SELECT %s, %s, %s, %s, %s AS json_type, %s AS value_start FROM %s %s ORDER BY %s LIMIT %d"
                % (t.pk_sql, t.group_sql, t.user_sql, t.ts_sql, t.cls_sql, t.value_sql, t.table_sql, corrupt, t.pk_sql, int(sample_limit)),
            )
        )
    return queries
