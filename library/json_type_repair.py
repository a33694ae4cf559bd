#!/usr/bin/python
# Online, lossless repair of a JSON column: keyset chunks in short READ COMMITTED transactions,
# each changed row's exact pre-image quarantined in the same transaction, and an exact undo.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: json_type_repair
short_description: Repair JSON values that are not objects, online and reversibly, and undo a repair
description:
  - V(repair) walks the table's primary key in keyset chunks and gives each corrupt value (neither SQL NULL nor
    a JSON object the application reads, classified like M(ansible.legacy.json_type_scan)) the action its JSON kind has in
    O(policy) - C(unwrap) a double-encoded object, C(wrap) the value in an object under O(wrap_key), set it to SQL C(null),
    write the C(empty) object C({}), or C(skip) it.
  - Before the first change it inspects the column (type, nullability, length, character set, native JSON, triggers,
    C(ON UPDATE) columns, primary key) and refuses a column that cannot hold JSON (numeric, temporal, binary), a table
    without a single-column primary key, an explicit C(null) action on a C(NOT NULL) column, and a text column whose sampled
    values are mostly not JSON objects (see O(not_json_percent), O(column_is_json)).
  - Each chunk is one short READ COMMITTED transaction, under a strict session C(sql_mode) whatever the server's global
    mode (PostgreSQL has no sql_mode and never cuts or converts a value), that locks only the rows it changes, copies their
    exact original bytes, JSON type, action and run id into the quarantine table, updates them (re-checking in the
    UPDATE that each is still corrupt, so the application's concurrent writes are never overwritten; C(ON UPDATE)
    columns keep their values), reads back what the column now holds and the row's fingerprint into the quarantine,
    and records the run's checkpoint, then commits. A crash can never leave a changed row without its pre-image.
  - A row that cannot be written (an error or any warning on its statement, or a value read back that is not what the
    action promises) never blocks the run - the chunk is redone one row at a time and such rows are left exactly as
    they were, recorded in the quarantine with their key, original and reason, and counted by reason in RV(unwritable).
  - Chunk sizes adapt to O(chunk_time). Between chunks the run waits while O(pause_file) exists, while
    C(Threads_running) exceeds O(max_threads_running) or while a replica lags more than O(max_replica_lag), and
    stops cleanly at a checkpoint when O(stop_file) appears. Deadlocks and lock wait timeouts are retried.
  - A run that was killed or stopped continues from its checkpoint when run again (O(resume)); a run on a clean
    table changes nothing and reports C(changed=false). A named advisory lock refuses a second run on the same table.
  - Before the first chunk it checks the primary key, that EXPLAIN of the chunk statements shows a range on it,
    the user's grants, and states whether the changes go to the binary log.
  - V(undo) puts back the pre-images of one repair run (default the latest), only where the row is still as the repair
    left it (the column holds exactly what was read back after the write and the row's fingerprint is unchanged), and
    checks what the column holds afterwards; other rows are reported as conflicts, with the reason, and left alone. Undo
    is chunked, resumable and idempotent too.
  - V(status) is read-only. It lists the runs recorded for the column and, with O(since), counts the rows written
    after that time (what a restore from a backup taken then would lose). RV(undo) says whether the quarantine can
    undo the run named by O(run_id) (else the one O(deploy_id) started or resumed, else the latest) - only a
    missing or unreadable quarantine makes an undo impossible; status never fails on it.
version_added: "0.1.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_target
options:
  primary_key:
    description: The table's single-column primary key (integer or string), walked in chunks.
  mode:
    description:
      - V(repair) repairs corrupt values; V(undo) restores the pre-images of one repair run;
        V(status) reports the recorded runs (read-only).
      - V(preflight) is read-only - every refusal the repair would make before its first change (the column's type, an
        explicit V(null) on a C(NOT NULL) column, the key, a column that does not look like JSON, an unfinished run with
        another policy, missing grants), and the plan; playbooks run it before a backup or a deploy.
    type: str
    default: repair
    choices: [repair, undo, status, preflight]
  run_id:
    description:
      - For V(repair), the id of a new run (1-64 letters, digits, underscores, dots, colons, dashes); default a UTC timestamp with a
        random suffix. An unfinished run of the column is resumed under its own id instead (see O(resume)).
      - For V(undo), the repair run to undo; default the latest repair run of the column.
      - For V(status), the run RV(undo) is about.
    type: str
  deploy_id:
    description:
      - Id of the playbook run (a deploy, a cleanup) that starts or resumes this repair or undo, recorded in the runs
        table's C(deploy_ids). A resumed run keeps every id that worked on it, so the automatic rollback of the deploy
        that resumed it finds it (RV(runs) shows them).
      - For V(status), RV(undo) is about the repair run this deploy started or resumed (unless O(run_id) is given).
      - A runs table created by an earlier version gets the C(deploy_ids) column (C(ALTER TABLE), once) before the
        first change of a repair or undo.
    type: str
  policy:
    description:
      - Action per JSON kind, laid over the default (V(STRING+OBJECT) gets V(unwrap), V(READABLE OBJECT) V(skip)). Kinds are the
        classes M(ansible.legacy.json_type_scan) reports - V(ARRAY), V(INTEGER), V(UNSIGNED INTEGER), V(DOUBLE), V(DECIMAL),
        V(STRING), V(STRING+OBJECT) (a double-encoded object), V(BOOLEAN), V(NULL) (the JSON null literal), V(INVALID)
        (text that is not JSON), V(UNREADABLE OBJECT) (an object for the server that the application's decoder cannot read),
        V(READABLE OBJECT) (text the server rejects that the application reads as an object) - or any other type name the
        server reports.
      - Actions are V(unwrap) (only for V(STRING+OBJECT)), V(wrap), V(null), V(empty) (the empty object C({})) and V(skip).
      - V(wrap) of V(INVALID), V(UNREADABLE OBJECT) and V(READABLE OBJECT) text stores the raw text as a JSON string under
        O(wrap_key), since the server cannot extract it as JSON the application reads.
      - V(null) on a C(NOT NULL) column is refused before any change.
    type: dict
    default: {"STRING+OBJECT": "unwrap", "READABLE OBJECT": "skip"}
  default_action:
    description:
      - Action for kinds O(policy) does not name.
      - V(auto) is the runbook's V(null) on a nullable column and V(empty) (the empty object C({})) on a C(NOT NULL) one,
        such as Django's default C(JSONField()).
    type: str
    default: auto
    choices: [auto, wrap, "null", empty, skip]
  decoder:
    description:
      - The judge of a healthy row. V(python) - Python's C(json.loads), what Django's C(JSONField) decodes with - counts a row
        healthy only if it reads it as a dict; rows where the server's C(JSON_VALID) and Python disagree are found by a
        server-side prefilter and settled in Python. V(server) trusts C(JSON_VALID) alone.
    type: str
    default: python
    choices: [python, server]
  column_is_json:
    description:
      - Repair a text column even though most of its sampled non-NULL values are not JSON objects (see O(not_json_percent)).
        Say so only when the column really holds JSON.
    type: bool
    default: false
  not_json_percent:
    description:
      - Refuse a text column (before any change) when at least this percentage of 10,000 sampled non-NULL values are not
        JSON objects, unless O(column_is_json) is set - a mistyped column name must never be wiped.
    type: float
    default: 50
  wrap_key:
    description: Key of the object V(wrap) builds.
    type: str
    default: value
  resume:
    description:
      - Continue the column's unfinished (killed or stopped) run from its checkpoint, with its policy; a different
        O(policy) is refused. V(false) marks that run abandoned (its quarantined rows stay undoable) and starts a new one.
      - An unfinished run of an earlier version that set kinds to SQL NULL on a C(NOT NULL) column could never finish; it is
        closed (abandoned) with a warning that names it, and a new run starts.
    type: bool
    default: true
  quarantine_table:
    description:
      - Table holding the pre-images; default C(<table>_jsonmend_quarantine), created on first use.
      - Every row names its target (database, table, column), so one table may serve several targets; tables of an earlier
        version are migrated in place (their rows belong to the table named in their comment).
    type: str
  runs_table:
    description: Table holding one row per run with its checkpoint; default C(<table>_jsonmend_runs), created on first use.
    type: str
  chunk_size:
    description: Rows in the first chunk.
    type: int
    default: 1000
  chunk_size_min:
    description: Smallest chunk the adaptive sizing may choose.
    type: int
    default: 100
  chunk_size_max:
    description: Largest chunk the adaptive sizing may choose.
    type: int
    default: 50000
  chunk_time:
    description: Target seconds per chunk (as pt-archiver's C(--chunk-time)); V(0) keeps O(chunk_size) fixed.
    type: float
    default: 0.5
  chunk_sleep:
    description: Seconds to sleep after each chunk.
    type: float
    default: 0
  max_threads_running:
    description: Wait while the server's C(Threads_running) (PostgreSQL - active client backends of C(pg_stat_activity)) is above this; V(0) disables the check.
    type: int
    default: 25
  max_replica_lag:
    description: Wait while any of O(replicas) lags more seconds than this; V(0) disables the check.
    type: float
    default: 5
  replicas:
    description:
      - Replicas whose lag throttles the run. Login options not given are the primary's.
      - Lag is C(Seconds_Behind_Master) from C(SHOW REPLICA STATUS) unless O(replica_lag_query) is given.
      - On PostgreSQL a standby reports C(now() - pg_last_xact_replay_timestamp()) and a primary the worst C(replay_lag) of
        C(pg_stat_replication) (a primary without streaming standbys is refused).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name used in messages.
        type: str
      login_host:
        description: Replica host.
        type: str
      login_port:
        description: Replica port.
        type: int
      login_user:
        description: Replica user.
        type: str
      login_password:
        description: Replica password. Never logged.
        type: str
      login_unix_socket:
        description: Replica socket.
        type: str
  replica_lag_query:
    description:
      - SQL run on each replica that returns its lag in seconds, e.g. from a pt-heartbeat table
        (gh-ost's C(--replication-lag-query)). NULL means replication is not running.
    type: str
  throttle_interval:
    description: Seconds between throttle checks while waiting.
    type: float
    default: 1.0
  max_throttle_time:
    description: Fail (at a checkpoint, resumable) after waiting this many seconds in one throttle; V(0) waits forever.
    type: float
    default: 3600
  innodb_lock_wait_timeout:
    description:
      - Session C(innodb_lock_wait_timeout) in seconds; a chunk that waits longer is rolled back and retried.
      - On PostgreSQL each chunk's C(SET LOCAL lock_timeout); its C(statement_timeout) is ten times O(chunk_time), at least 30 s.
    type: int
    default: 2
  max_retries:
    description: Retries of one chunk after a deadlock (1213; PostgreSQL 40P01, 40001) or lock wait timeout (1205; PostgreSQL 55P03).
    type: int
    default: 10
  lock_timeout:
    description:
      - Seconds to wait for the table's advisory lock (C(GET_LOCK), PostgreSQL C(pg_try_advisory_lock)); V(0) refuses at once
        when another run holds it.
    type: int
    default: 0
  pause_file:
    description: While this file exists the run waits between chunks (on the host that runs the module).
    type: path
  stop_file:
    description:
      - When this file appears the run finishes its chunk, records its checkpoint and exits (C(status=stopped)).
      - A run refuses to start while it exists.
    type: path
  progress_file:
    description: File that progress lines and the final statistics are appended to, for C(tail -f).
    type: path
  progress_interval:
    description: Seconds between progress lines.
    type: float
    default: 10
  sample_limit:
    description: Before/after pairs returned (and shown in diff mode).
    type: int
    default: 10
  sql_log_bin:
    description:
      - V(true) keeps the session's changes in the binary log so replicas apply them (the default and the safe choice).
      - V(false) sets C(sql_log_bin=0) for the session (needs SUPER or BINLOG ADMIN); replicas then need their own repair.
        MySQL-only - refused on PostgreSQL, where every change is in the WAL.
    type: bool
    default: true
  check_grants:
    description:
      - Refuse to start when C(SHOW GRANTS) lacks a needed privilege (PostgreSQL - C(has_table_privilege) and
        C(has_schema_privilege); the refusal names each C(GRANT) to run).
    type: bool
    default: true
  since:
    description: For V(status), a time (C(YYYY-MM-DD HH:MM:SS), UTC as stored) after which written rows are counted.
    type: str
  timestamp_column:
    description: For V(status) with O(since), the table's creation time column.
    type: str
    default: created_at
attributes:
  check_mode:
    support: full
    description: Changes nothing (no table is created, no row written) and reports the exact counts per action and sample pairs.
  diff_mode:
    support: full
    description: Shows sample before/after pairs.
requirements:
  - PyMySQL (MariaDB, MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
notes:
  - Needs SELECT and UPDATE on the table, and SELECT, INSERT, UPDATE (CREATE the first time) on the quarantine and runs tables.
  - On PostgreSQL (13+) the column may be C(jsonb), C(json) or text, and O(table) may be C(schema.table); the quarantine and
    runs tables go in the table's schema, with C(bytea) pre-images (json and text restored byte for byte, jsonb as its
    canonical value), and the first repair needs C(CREATE) on that schema. Each chunk is its own READ COMMITTED transaction.
  - Undo restores a row only when the column holds exactly the bytes read back after the repair and the row's fingerprint
    (a hash of its stored columns) is unchanged. A row the application rewrote with exactly the same values in every column
    cannot be told apart and is restored; a table with an C(ON UPDATE) timestamp or a version column tells them apart.
  - On MariaDB undo sets C(check_constraint_checks=0) for its session, so that invalid text repaired from a column
    whose C(CHECK (json_valid)) was bypassed can be put back byte for byte.
"""

EXAMPLES = r"""
- name: Repair with the safe defaults (double-encoded objects unwrapped, the rest set to NULL, or {} on a NOT NULL column)
  ansible.legacy.json_type_repair:
    database: app
    deploy_id: "{{ preflight_run.id }}"
    progress_file: /var/tmp/jsonmend/db1_3306/app.analytics_activityevent.metadata/repair.progress
    stop_file: /var/tmp/jsonmend/db1_3306/app.analytics_activityevent.metadata/repair.stop
    pause_file: /var/tmp/jsonmend/db1_3306/app.analytics_activityevent.metadata/repair.pause
  register: cleanup_repair_result

- name: Keep numbers and arrays under a "legacy" key, throttled by a replica's heartbeat
  ansible.legacy.json_type_repair:
    login_host: db1.example.com
    login_user: jsonmend
    login_password: "{{ vault_jsonmend_db_password }}"
    database: app
    policy:
      INTEGER: wrap
      DOUBLE: wrap
      ARRAY: wrap
    wrap_key: legacy
    replicas:
      - login_host: db2.example.com
    replica_lag_query: SELECT TIMESTAMPDIFF(SECOND, MAX(ts), UTC_TIMESTAMP()) FROM percona.heartbeat
    max_replica_lag: 2

- name: Undo the latest repair run
  ansible.legacy.json_type_repair:
    database: app
    mode: undo

- name: Count the rows a restore of a backup taken at 02:00 would lose
  ansible.legacy.json_type_repair:
    database: app
    mode: status
    since: "2026-11-26 02:00:00"
"""

RETURN = r"""
mode:
  description: What ran.
  returned: always
  type: str
  sample: repair
target:
  description: The inspected column (definition, nullability, character set, native JSON, CHECK, triggers, ON UPDATE columns).
  returned: preflight
  type: dict
  sample: {"column": "app.t.payload", "column_type": "longtext", "nullable": false, "character_set": "utf8mb4"}
column_check:
  description: The sample behind the not-JSON refusal - rows sampled, non-NULL, not valid JSON, percent, threshold.
  returned: preflight
  type: dict
  sample: {"sampled": 10000, "non_null": 9000, "invalid": 12, "percent": 0.1, "threshold": 50.0}
run_id:
  description: The run's id (for V(undo), the undo's own id; for V(preflight), the run a repair would start or resume).
  returned: repair, undo, preflight
  type: str
  sample: 20261126T231000Z-4f2a
undo_of:
  description: The repair run an undo restored.
  returned: undo
  type: str
  sample: 20261126T231000Z-4f2a
resumed:
  description: Whether an unfinished run was continued from its checkpoint (for V(preflight), would be).
  returned: repair, undo, preflight
  type: bool
  sample: false
status:
  description: C(finished), or C(stopped) when the stop file ended the run at a checkpoint.
  returned: repair, undo
  type: str
  sample: finished
actions:
  description: Rows per action over the whole run (resumed parts included); C(skip) rows were left as they were.
  returned: repair
  type: dict
  sample: {"unwrap": 83, "wrap": 0, "null": 520, "skip": 0}
by_type:
  description: Rows per JSON kind with the action taken.
  returned: repair
  type: dict
  sample: {"INTEGER": {"action": "null", "rows": 203}, "STRING+OBJECT": {"action": "unwrap", "rows": 83}}
rows_changed:
  description: Rows changed by the whole run (for V(undo), rows restored).
  returned: repair, undo
  type: int
  sample: 603
rows_changed_now:
  description: Rows changed by this invocation (a resumed run's earlier part excluded).
  returned: repair, undo
  type: int
  sample: 603
rows_examined:
  description: Rows read by this invocation (for V(undo), quarantine rows).
  returned: repair, undo
  type: int
  sample: 100000
restored:
  description: Rows whose pre-image was put back.
  returned: undo
  type: int
  sample: 600
conflicts:
  description: Rows left alone because they changed after the repair (or were deleted, or repaired again by a later run).
  returned: undo
  type: int
  sample: 3
conflicts_by_reason:
  description: Conflicts of this invocation per reason (changed since, row written since, deleted, could not be restored, ...).
  returned: undo
  type: dict
  sample: {"changed since the repair": 3}
conflict_samples:
  description: Some conflicting rows with the reason.
  returned: undo
  type: list
  elements: dict
  sample: [{"id": 1201, "reason": "changed since the repair", "current": "{\"a\": 2}", "repaired_to": null}]
unwritable:
  description:
    - Rows that could not be written, left exactly as they were and recorded in the quarantine with their key, original and
      reason; C(by_reason) counts them over the whole run, C(samples) shows some (original cut to 200 characters).
  returned: repair
  type: dict
  sample: {"rows": 1, "by_reason": {"(1406) Data too long for column 'payload'": 1},
           "samples": [{"id": 7, "type": "ARRAY", "action": "wrap", "reason": "(1406) Data too long for column 'payload' at row 1", "original": "[1, 2]"}]}
ledger_migrated:
  description: What was done to bookkeeping tables of an earlier version (migrated in place), or null.
  returned: repair, undo
  type: dict
  sample: {"quarantine": "t_jsonmend_quarantine", "runs": "t_jsonmend_runs", "owner": "app.t", "rows_assigned": 12}
chunks:
  description: Chunks processed by this invocation.
  returned: repair, undo
  type: int
  sample: 42
retries:
  description: Chunk retries after a deadlock or lock wait timeout.
  returned: repair, undo
  type: int
  sample: 0
throttle_waits:
  description: Times the run waited for the pause file, Threads_running or replica lag.
  returned: repair, undo
  type: int
  sample: 1
throttle_seconds:
  description: Seconds spent waiting.
  returned: repair, undo
  type: float
  sample: 3.2
duration_s:
  description: Seconds this invocation ran.
  returned: repair, undo
  type: float
  sample: 2.4
rows_per_s:
  description: Rows examined per second.
  returned: repair, undo
  type: int
  sample: 41000
chunk_size:
  description: First, last and bounds of the adaptive chunk size.
  returned: repair, undo
  type: dict
  sample: {"initial": 1000, "final": 24000, "min": 100, "max": 50000}
key_range:
  description: The key range the run covers and its checkpoint.
  returned: repair, undo
  type: dict
  sample: {"start": 1, "end": 100000, "last": 100000}
samples:
  description: Before/after pairs (values cut to 200 characters; C(null) is SQL NULL).
  returned: repair, undo
  type: list
  elements: dict
  sample: [{"id": 1201, "type": "INTEGER", "action": "null", "before": "42", "after": null}]
policy:
  description: The action for every known kind, the default action (V(auto) resolved for the column) and the wrap key.
  returned: repair, preflight
  type: dict
  sample: {"actions": {"INTEGER": "null", "STRING+OBJECT": "unwrap"}, "default_action": "null", "wrap_key": "value"}
binlog:
  description: Whether the changes go to the binary log, and a sentence saying so.
  returned: repair, undo
  type: dict
  sample: {"log_bin": true, "sql_log_bin": true, "format": "ROW", "logged": true, "message": "changes go to the binary log (ROW): replicas apply them"}
preconditions:
  description: What was checked before the first chunk.
  returned: repair, undo, preflight
  type: dict
  sample: {"primary_key": "id", "explain": [{"statement": "chunk select", "type": "range", "key": "PRIMARY"}], "grants": "ok"}
quarantine_table:
  description: The quarantine table.
  returned: always
  type: str
  sample: analytics_activityevent_jsonmend_quarantine
runs_table:
  description: The runs table.
  returned: always
  type: str
  sample: analytics_activityevent_jsonmend_runs
statistics:
  description: The final statistics block, as appended to O(progress_file).
  returned: repair, undo
  type: str
  sample: "jsonmend repair statistics\n  run   : 20261126T231000Z-4f2a\n..."
runs:
  description: Recorded runs of the column, newest first.
  returned: status
  type: list
  elements: dict
  sample: [{"run_id": "20261126T231000Z-4f2a", "kind": "repair", "status": "finished", "counts": {}}]
latest_repair_run:
  description: Id of the newest repair run, or null.
  returned: status
  type: str
  sample: 20261126T231000Z-4f2a
undo:
  description:
    - Whether an undo can bring the run back - C(possible) is false only when its pre-images are missing or the server
      cannot read them (the one case in which an automatic rollback may restore the table from a backup) - with the
      run, its quarantined and undone rows, and the reason.
  returned: status
  type: dict
  sample: {"possible": true, "run_id": "20261126T231000Z-4f2a", "quarantined_rows": 603, "undone_rows": 0, "recorded_rows": 603,
           "reason": "the quarantine holds the run's 603 pre-images"}
since:
  description: With O(since), rows created after that time (a restore from a backup taken then removes them) and repair runs after it.
  returned: status
  type: dict
  sample: {"at": "2026-11-26 02:00:00", "rows_written_after": 1520, "repair_runs_after": ["20261126T231000Z-4f2a"]}
warnings_text:
  description: Notes for the operator (binary log off, resumed run, and so on).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.jsonmend.db.connection import driver_message
from ansible.module_utils.jsonmend.db.runner import run_module, warn_all
from ansible.module_utils.jsonmend.repair.run import argument_spec, execute, validate_params


def work(module):
    result = execute(module.params, check_mode=module.check_mode, diff=module._diff)
    warn_all(module, result.get("warnings_text", []))
    return dict(changed=result.get("rows_changed_now", 0) > 0, **result)


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "json_type_repair %s of %s.%s.%s" % (p["mode"], p["database"], p["table"], p["column"]),
        validate=validate_params,
        refusal="json_type_repair refused its input (nothing was changed): ",
        on_error=lambda what, exc, p: "%s: %s" % (what, exc),
        on_driver_error=lambda what, exc, p: (
            "%s failed: %s. Every chunk is its own transaction: committed chunks are repaired and quarantined, the current one was rolled back;"
            " run again to resume from the checkpoint" % (what, driver_message(exc))
        ),
    )


if __name__ == "__main__":
    main()
