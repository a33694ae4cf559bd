# The scan engine behind json_type_scan: its options, their validation, worker planning,
# read-only sessions, the parallel run and the module's result.
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import appjson
from ansible.module_utils.jsonmend.db.chunks import split_range
from ansible.module_utils.jsonmend.db.clock import utc_iso
from ansible.module_utils.jsonmend.db.connection import (
    CONNECTION_ARGUMENT_SPEC,
    TARGET_ARGUMENT_SPEC,
    connect,
)
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import identifier_problems, validate_identifier
from ansible.module_utils.jsonmend.db.servers import read_identity
from ansible.module_utils.jsonmend.scan.progress import ScanProgress
from ansible.module_utils.jsonmend.scan.report import column_check, dba_queries, summarize
from ansible.module_utils.jsonmend.scan.scanner import Partial, Scanner, rank_users
from ansible.module_utils.jsonmend.scan.target import PARALLEL_CAP, PARALLEL_MIN_ROWS, Target

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database


def argument_spec() -> dict[str, Any]:
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(
        group_by=dict(type="str", default="event_type"),
        timestamp_column=dict(type="str", default="created_at"),
        user_column=dict(type="str", default="user_id"),
        sample_limit=dict(type="int", default=200),
        top_users=dict(type="int", default=20),
        chunk_size=dict(type="int", default=0),
        parallel=dict(type="int", default=0),
        max_execution_time=dict(type="float", default=0),
        priorities=dict(
            type="dict",
            default=dict(quiz_answer_submitted="HIGH", quiz_completed="HIGH", content_viewed="LOW"),
        ),
        default_priority=dict(type="str", default="MEDIUM"),
        catalog_only=dict(type="bool", default=False),
        decoder=dict(type="str", default="python", choices=list(appjson.DECODERS)),
        progress_file=dict(type="path"),
        progress_interval=dict(type="float", default=10),
        column_is_json=dict(type="bool", default=False),
        not_json_percent=dict(type="float", default=50),
        # json_guard's status read on the scan's connection after the scan (the weekly check): no
        # second module process for it. A guard that cannot be read never fails the scan.
        guard_status=dict(
            type="dict",
            options=dict(
                log_table=dict(type="str", default=""),
                since=dict(type="str", default=""),
                check_grants=dict(type="bool", default=True),
            ),
        ),
    )
    return spec


def validate_params(params: Mapping[str, Any]) -> list[str]:
    """Refuse bad input before connecting; return the list of problems (empty when fine)."""
    problems = identifier_problems(params, ("table", "column", "primary_key"), ("group_by", "timestamp_column", "user_column"))
    for key in ("sample_limit", "top_users", "chunk_size", "parallel", "max_execution_time", "progress_interval"):
        if params[key] < 0:
            problems.append("%s must be 0 or more, got %s" % (key, params[key]))
    if not 0 < params["not_json_percent"] <= 100:
        problems.append("not_json_percent must be above 0 and at most 100, got %s" % params["not_json_percent"])
    if params["dialect"] != "sqlite":
        try:
            validate_identifier(params["database"], "database")
        except JsonmendError as exc:
            problems.append(str(exc))
    return problems


def plan_parallel(params: Mapping[str, Any], target: Target, key_range: Sequence[Any]) -> int:
    """How many workers to run: the operator's number, or one sized to the server."""
    if params["dialect"] == "sqlite" or not target.pk_is_integer or key_range[0] is None:
        return 1
    if params["parallel"]:
        return params["parallel"]
    if target.estimated_rows < PARALLEL_MIN_ROWS and key_range[1] - key_range[0] < PARALLEL_MIN_ROWS:
        return 1
    cpus = target.server_cpus or 4
    return max(2, min(PARALLEL_CAP, cpus // 2))


def open_session(db: Database, params: Mapping[str, Any]) -> None:
    """Prepare a connection for scanning: known sql_mode, statement limit, read-only snapshot."""
    cur = db.cursor()
    try:
        # The prefilter's patterns are string literals with backslashes: no NO_BACKSLASH_ESCAPES.
        db.dialect.pin_sql_mode(cur)
        db.dialect.scan_session(cur)
        if params["max_execution_time"]:
            db.dialect.set_statement_timeout(cur, params["max_execution_time"])
        db.dialect.begin_read_only_snapshot(cur)
    finally:
        cur.close()


def run_workers(
    params: Mapping[str, Any], main_db: Database, target: Target, ranges: Sequence[tuple[Any, Any]], progress: ScanProgress | None = None
) -> Partial:
    """Scan each range on its own connection (the first on the main one); merge the partials."""
    results = [None] * len(ranges)
    errors = []

    def work(index, low, high):
        db = main_db
        try:
            if index:
                db = connect(params)
                open_session(db, params)
            results[index] = Scanner(db, target, params["sample_limit"], progress).scan_range(low, high, params["chunk_size"])
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
        finally:
            if index:
                db.close()

    threads = [threading.Thread(target=work, args=(i, low, high)) for i, (low, high) in enumerate(ranges)]
    for thread in threads[1:]:
        thread.start()
    work(0, ranges[0][0], ranges[0][1])
    for thread in threads[1:]:
        thread.join()
    if errors:
        raise errors[0]
    total = Partial(params["sample_limit"])
    for part in results:
        total.merge(part)
    return total


def scan(params: Mapping[str, Any], then: Callable[[Database], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Connect, scan and return the module's result (without `changed`).

    then(db), when given, runs on the scan's connection once the scan's snapshot has ended, outside
    the scan's own time (scan.duration_s); its result is returned as `guard_status`.
    """
    started = time.time()
    after = None
    db = connect(params)
    try:
        target = Target(db, params)
        server = dict(flavour=db.dialect.name, version=db.dialect.version, identity=read_identity(db)["identity"])
        if params["catalog_only"]:
            return dict(target=target.describe(), server=server)
        open_session(db, params)
        low, high = db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (target.pk_sql, target.pk_sql, target.table_sql))
        parallel = plan_parallel(params, target, (low, high))
        if low is None:
            ranges = []
        elif target.pk_is_integer:
            ranges = split_range(low, high, parallel)
        else:
            ranges = [(low, high)]
        total_keys = high - low + 1 if ranges and target.pk_is_integer else None
        progress = ScanProgress(params["progress_file"], params["progress_interval"], total_keys, target.estimated_rows)
        try:
            partial = run_workers(params, db, target, ranges, progress) if ranges else Partial(params["sample_limit"])
        finally:
            progress.finish()
        result = summarize(partial, params["priorities"], params["default_priority"])
        # Exact: the workers counted every corrupt row per user; no statement after the workers.
        result["top_users"] = rank_users(partial.users, params["top_users"]) if target.user else []
        result["samples"] = partial.samples[: params["sample_limit"]]
        db.conn.rollback()
        duration = time.time() - started
        if then is not None:
            after = then(db)
    finally:
        db.close()
    result["sql"] = dba_queries(target, params["sample_limit"], params["top_users"])
    result["server"] = server
    result["target"] = target.describe()
    result["column_check"] = column_check(
        result, "%s.%s.%s" % (target.database, target.table, target.column), params["not_json_percent"], params["column_is_json"]
    )
    result["warnings_text"] = [result["column_check"]["message"]] if result["column_check"]["message"] else []
    if result["readable_object_rows"]:
        result["warnings_text"].append(
            "%d rows hold text the server's JSON_VALID rejects but the application reads as an object (NaN, Infinity, lone surrogates,"
            " deep nesting): counted as READABLE OBJECT, not in corrupted_rows, left alone by the default policy" % result["readable_object_rows"]
        )
    result["scan"] = dict(
        mode="chunked" if params["chunk_size"] else "aggregate",
        chunk_size=params["chunk_size"],
        parallel=len(ranges) or 1,
        chunks=partial.chunks,
        duration_s=round(duration, 3),
        rows_per_s=int(result["total_rows"] / duration) if duration > 0 else 0,
        scanned_at=utc_iso(),
        estimated_rows=target.estimated_rows,
        decoder=target.decoder,
    )
    if after is not None:
        result["guard_status"] = after
    return result
