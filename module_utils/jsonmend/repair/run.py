# What json_type_repair runs: its options and their validation, the status report, the diff
# and the dispatch to repair, undo or status (library/json_type_repair.py is its documentation).
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.connection import (
    CONNECTION_ARGUMENT_SPEC,
    TARGET_ARGUMENT_SPEC,
    connect,
)
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier, validate_table
from ansible.module_utils.jsonmend.repair import undo_probe
from ansible.module_utils.jsonmend.repair.job import plain
from ansible.module_utils.jsonmend.repair.ledger import REPAIR, Ledger, default_names
from ansible.module_utils.jsonmend.repair.policy import policy_problems
from ansible.module_utils.jsonmend.repair.repair import Repair
from ansible.module_utils.jsonmend.repair.target import RepairTarget
from ansible.module_utils.jsonmend.repair.undo import Undo

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

RUN_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SINCE_RE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?Z?")


def argument_spec() -> dict[str, Any]:
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(
        mode=dict(type="str", default="repair", choices=["repair", "undo", "status", "preflight"]),
        run_id=dict(type="str"),
        deploy_id=dict(type="str"),
        policy=dict(type="dict", default={"STRING+OBJECT": "unwrap", "READABLE OBJECT": "skip"}),
        default_action=dict(type="str", default="auto", choices=["auto", "wrap", "null", "empty", "skip"]),
        decoder=dict(type="str", default="python", choices=["python", "server"]),
        column_is_json=dict(type="bool", default=False),
        not_json_percent=dict(type="float", default=50),
        wrap_key=dict(type="str", default="value", no_log=False),
        resume=dict(type="bool", default=True),
        quarantine_table=dict(type="str"),
        runs_table=dict(type="str"),
        chunk_size=dict(type="int", default=1000),
        chunk_size_min=dict(type="int", default=100),
        chunk_size_max=dict(type="int", default=50000),
        chunk_time=dict(type="float", default=0.5),
        chunk_sleep=dict(type="float", default=0),
        max_threads_running=dict(type="int", default=25),
        max_replica_lag=dict(type="float", default=5),
        replicas=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str"),
                login_host=dict(type="str"),
                login_port=dict(type="int"),
                login_user=dict(type="str"),
                login_password=dict(type="str", no_log=True),
                login_unix_socket=dict(type="str"),
            ),
        ),
        replica_lag_query=dict(type="str"),
        throttle_interval=dict(type="float", default=1.0),
        max_throttle_time=dict(type="float", default=3600),
        innodb_lock_wait_timeout=dict(type="int", default=2),
        max_retries=dict(type="int", default=10),
        lock_timeout=dict(type="int", default=0),
        pause_file=dict(type="path"),
        stop_file=dict(type="path"),
        progress_file=dict(type="path"),
        progress_interval=dict(type="float", default=10),
        sample_limit=dict(type="int", default=10),
        sql_log_bin=dict(type="bool", default=True),
        check_grants=dict(type="bool", default=True),
        since=dict(type="str"),
        timestamp_column=dict(type="str", default="created_at"),
    )
    return spec


def validate_params(params: Mapping[str, Any]) -> list[str]:
    """Refuse bad input before connecting; return the problems (empty when fine)."""
    problems = []
    if params["dialect"] == "sqlite":
        problems.append("dialect sqlite cannot be repaired (the file is opened read-only); repair on MariaDB, MySQL or PostgreSQL")
    for key in ("database", "table", "column", "primary_key", "timestamp_column"):
        try:
            if key == "table":
                validate_table(params[key], key, params.get("dialect"))
            else:
                validate_identifier(params[key], key)
        except JsonmendError as exc:
            problems.append(str(exc))
    for key in ("quarantine_table", "runs_table"):
        if params[key]:
            try:
                validate_identifier(params[key], key)
            except JsonmendError as exc:
                problems.append(str(exc))
    for key in ("run_id", "deploy_id"):
        if params[key] is not None and not RUN_ID_RE.fullmatch(params[key]):
            problems.append("%s %r must be 1-64 letters, digits, '_', '.', ':' or '-'" % (key, params[key]))
    problems += policy_problems(params["policy"], params["default_action"], params["wrap_key"])
    for key in ("chunk_size", "chunk_size_min", "chunk_size_max"):
        if params[key] < 1:
            problems.append("%s must be 1 or more, got %s" % (key, params[key]))
    if params["chunk_size_min"] > params["chunk_size_max"]:
        problems.append("chunk_size_min (%s) is above chunk_size_max (%s)" % (params["chunk_size_min"], params["chunk_size_max"]))
    for key in (
        "chunk_time",
        "chunk_sleep",
        "max_threads_running",
        "max_replica_lag",
        "max_throttle_time",
        "max_retries",
        "lock_timeout",
        "progress_interval",
        "sample_limit",
    ):
        if params[key] < 0:
            problems.append("%s must be 0 or more, got %s" % (key, params[key]))
    if not 0 < params["not_json_percent"] <= 100:
        problems.append("not_json_percent must be above 0 and at most 100, got %s" % params["not_json_percent"])
    if params["throttle_interval"] <= 0:
        problems.append("throttle_interval must be above 0, got %s" % params["throttle_interval"])
    if not 1 <= params["innodb_lock_wait_timeout"] <= 3600:
        problems.append("innodb_lock_wait_timeout must be 1-3600 seconds, got %s" % params["innodb_lock_wait_timeout"])
    if params["since"] is not None and not SINCE_RE.fullmatch(params["since"].strip()):
        problems.append("since %r is not a time like 2026-11-26 02:00:00" % params["since"])
    if params["since"] is not None and params["mode"] != "status":
        problems.append("since only applies to mode=status")
    if params["replicas"] and not params["max_replica_lag"]:
        problems.append("replicas are given but max_replica_lag is 0: set a lag limit or drop the replicas")
    return problems


def status_report(params: Mapping[str, Any], db: Database, target: RepairTarget, ledger: Ledger) -> dict[str, Any]:
    """Read-only: the recorded runs, whether the quarantine can undo the run asked about, and,
    with `since`, what a restore from then would lose. A missing or unreadable ledger is reported
    (undo.possible false), not raised: the rollback must tell it from a lost connection."""
    undo = undo_probe.probe(ledger, params["run_id"], params["deploy_id"])
    if not undo["ledger_readable"]:
        return dict(mode="status", runs=[], latest_repair_run=None, undo=undo)
    runs = ledger.runs_list()
    for run in runs:
        total, undone, _low, _high = ledger.quarantined_rows(run["run_id"]) if run["kind"] == REPAIR else (None, None, None, None)
        run["quarantined_rows"], run["undone_rows"] = total, undone
    latest = ledger.latest_repair()
    result = dict(mode="status", runs=runs, latest_repair_run=latest["run_id"] if latest else None, undo=undo)
    if params["since"]:
        since = params["since"].strip().rstrip("Z").replace("T", " ")
        d = db.dialect
        cur = db.cursor()
        try:
            columns = d.columns(cur, target.database, target.table)
        finally:
            cur.close()
        if params["timestamp_column"] not in columns:
            raise JsonmendError("timestamp_column %r is not a column of %s.%s" % (params["timestamp_column"], target.database, target.table))
        ts = d.q(params["timestamp_column"])
        written = db.query_one("SELECT COUNT(*), MIN(%s), MAX(%s) FROM %s WHERE %s > %%s" % (target.pk_sql, target.pk_sql, target.table_sql, ts), (since,))
        result["since"] = dict(
            at=since,
            rows_written_after=int(written[0]),
            first_key_after=plain(written[1]),
            last_key_after=plain(written[2]),
            repair_runs_after=[r["run_id"] for r in runs if r["kind"] == REPAIR and r["started_at"] and r["started_at"].replace("T", " ") > since],
            note="rows updated in place after that time are not counted (the table has no update time); a restore reverts them too",
        )
    return result


def diff_of(samples: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Ansible diff entries for before/after pairs."""
    out = []
    for s in samples:
        header = "%s=%s (%s, %s)" % ("id", s["id"], s.get("type"), s.get("action"))
        out.append(
            dict(
                before_header=header,
                after_header=header,
                before="%s\n" % ("SQL NULL" if s["before"] is None else s["before"]),
                after="%s\n" % ("SQL NULL" if s["after"] is None else s["after"]),
            )
        )
    return out


def execute(params: Mapping[str, Any], check_mode: bool = False, diff: bool = False) -> dict[str, Any]:
    """Connect and run the requested mode; return the module result (without `changed`)."""
    db = connect(params, autocommit=True)
    job = None
    try:
        target = RepairTarget(db, params)
        quarantine, runs = default_names(target.table) if not (params["quarantine_table"] and params["runs_table"]) else (None, None)
        ledger = Ledger(
            db, target.database, target.table, target.column, params["quarantine_table"] or quarantine, params["runs_table"] or runs, params["deploy_id"]
        )
        names = dict(quarantine_table=ledger.quarantine, runs_table=ledger.runs)
        if params["mode"] == "status":
            result = status_report(params, db, target, ledger)
            result.update(names, warnings_text=[])
            return result
        if params["mode"] == "preflight":
            job = Repair(params, db, target, ledger, check_mode=True)
            result = job.preflight()
            result.update(names, warnings_text=job.warnings)
            return result
        job = (Repair if params["mode"] == "repair" else Undo)(params, db, target, ledger, check_mode, diff)
        status = job.run()
        result = job.result(status)
        job.progress.write(result["statistics"])
        result.update(names, warnings_text=job.warnings)
        if diff:
            result["diff"] = diff_of(job.samples)
        return result
    finally:
        if job is not None:
            job.close()
        db.close()
