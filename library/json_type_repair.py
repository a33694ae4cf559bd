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
    a JSON object, classified by the same SQL as M(json_type_scan)) the action its JSON kind has in O(policy):
    C(unwrap) a double-encoded object, C(wrap) the value as C({"<wrap_key>": value}), set it to SQL C(null), or C(skip) it.
  - Each chunk is one short READ COMMITTED transaction that locks only the rows it changes, copies their exact
    original bytes, JSON type, new value, action and run id into the quarantine table, updates them (re-checking
    in the UPDATE that each is still corrupt, so the application's concurrent writes are never overwritten) and
    records the run's checkpoint, then commits. A crash can never leave a changed row without its pre-image.
  - Chunk sizes adapt to O(chunk_time). Between chunks the run waits while O(pause_file) exists, while
    C(Threads_running) exceeds O(max_threads_running) or while a replica lags more than O(max_replica_lag), and
    stops cleanly at a checkpoint when O(stop_file) appears. Deadlocks and lock wait timeouts are retried.
  - A run that was killed or stopped continues from its checkpoint when run again (O(resume)); a run on a clean
    table changes nothing and reports C(changed=false). A named advisory lock refuses a second run on the same table.
  - Before the first chunk it checks the primary key, that EXPLAIN of the chunk statements shows a range on it,
    the user's grants, and states whether the changes go to the binary log.
  - V(undo) puts back the pre-images of one repair run (default the latest), only where the column still holds
    exactly what that run wrote; other rows are reported as conflicts and left alone. Undo is chunked,
    resumable and idempotent too.
  - V(status) is read-only: the runs recorded for the column and, with O(since), how many rows were written
    after that time (what a restore from a backup taken then would lose).
version_added: "0.1.0"
author: jsonmend maintainers
options:
  login_host:
    description: Host of the server. Falls back to the option file, then C(localhost).
    type: str
  login_port:
    description: TCP port. Falls back to the option file, then 3306.
    type: int
  login_user:
    description: User name. Falls back to the option file.
    type: str
    aliases: [login_username]
  login_password:
    description: Password. Falls back to the option file. Never logged.
    type: str
  login_unix_socket:
    description: Unix socket path; used instead of TCP when given.
    type: str
  config_file:
    description: MySQL option file read for the C([client]) group when it exists.
    type: path
    default: ~/.my.cnf
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 30
  ca_cert:
    description: CA certificate; when given the server certificate is verified.
    type: path
    aliases: [ssl_ca]
  client_cert:
    description: Client certificate for TLS.
    type: path
    aliases: [ssl_cert]
  client_key:
    description: Client key for TLS.
    type: path
    aliases: [ssl_key]
  check_hostname:
    description: Verify that the server certificate names the host (with O(ca_cert)).
    type: bool
  dialect:
    description:
      - Server flavour. V(auto) reads C(VERSION()). V(sqlite) is refused (the repair needs MariaDB or MySQL).
    type: str
    default: auto
    choices: [auto, mariadb, mysql, sqlite]
  database:
    description: Database (schema) name.
    type: str
    required: true
    aliases: [login_db, db]
  table:
    description: Table holding the JSON column.
    type: str
    default: analytics_activityevent
  column:
    description: JSON column that must hold an object in every row.
    type: str
    default: metadata
  primary_key:
    description: The table's single-column primary key (integer or string), walked in chunks.
    type: str
    default: id
  mode:
    description:
      - V(repair) repairs corrupt values; V(undo) restores the pre-images of one repair run;
        V(status) reports the recorded runs (read-only).
    type: str
    default: repair
    choices: [repair, undo, status]
  run_id:
    description:
      - For V(repair), the id of a new run (1-64 letters, digits, C(_ . : -)); default a UTC timestamp with a
        random suffix. An unfinished run of the column is resumed under its own id instead (see O(resume)).
      - For V(undo), the repair run to undo; default the latest repair run of the column.
    type: str
  policy:
    description:
      - Action per JSON kind, laid over the default C({"STRING+OBJECT": "unwrap"}). Kinds are the classes
        M(json_type_scan) reports - V(ARRAY), V(INTEGER), V(UNSIGNED INTEGER), V(DOUBLE), V(DECIMAL), V(STRING),
        V(STRING+OBJECT) (a double-encoded object), V(BOOLEAN), V(NULL) (the JSON null literal), V(INVALID)
        (text that is not JSON) - or any other type name the server reports.
      - Actions are V(unwrap) (only for V(STRING+OBJECT)), V(wrap), V(null) and V(skip).
      - V(wrap) of V(INVALID) text stores the raw text as a JSON string, C({"value": "the text"}), since it
        cannot be parsed.
    type: dict
    default: {"STRING+OBJECT": "unwrap"}
  default_action:
    description: Action for kinds O(policy) does not name (the runbook's V(null)).
    type: str
    default: "null"
    choices: [wrap, "null", skip]
  wrap_key:
    description: Key of the object V(wrap) builds.
    type: str
    default: value
  resume:
    description:
      - Continue the column's unfinished (killed or stopped) run from its checkpoint, with its policy; a different
        O(policy) is refused. V(false) marks that run abandoned (its quarantined rows stay undoable) and starts a new one.
    type: bool
    default: true
  quarantine_table:
    description: Table holding the pre-images; default C(<table>_jsonmend_quarantine), created on first use.
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
    description: Wait while the server's C(Threads_running) is above this; V(0) disables the check.
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
    description: Session C(innodb_lock_wait_timeout) in seconds; a chunk that waits longer is rolled back and retried.
    type: int
    default: 2
  max_retries:
    description: Retries of one chunk after a deadlock (1213) or lock wait timeout (1205).
    type: int
    default: 10
  lock_timeout:
    description: Seconds to wait for the table's advisory lock; V(0) refuses at once when another run holds it.
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
    type: bool
    default: true
  check_grants:
    description: Refuse to start when C(SHOW GRANTS) lacks a needed privilege.
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
  - PyMySQL on the host that runs the module
notes:
  - Needs SELECT and UPDATE on the table, and SELECT, INSERT, UPDATE (CREATE the first time) on the quarantine and runs tables.
  - Undo restores a row only when the column holds exactly the bytes the run wrote. A row the application later
    set to the same value (for example SQL NULL after the V(null) action) cannot be told apart and is restored.
  - On MariaDB undo sets C(check_constraint_checks=0) for its session, so that invalid text repaired from a column
    whose C(CHECK (json_valid)) was bypassed can be put back byte for byte.
"""

EXAMPLES = r"""
- name: Repair with the safe defaults (double-encoded objects unwrapped, the rest set to NULL)
  ansible.legacy.json_type_repair:
    database: app
    progress_file: /var/tmp/jsonmend/analytics_activityevent.progress
    stop_file: /var/tmp/jsonmend/analytics_activityevent.stop
    pause_file: /var/tmp/jsonmend/analytics_activityevent.pause
  register: cleanup_repair_result

- name: Keep numbers and arrays as {"legacy": value}, throttled by a replica's heartbeat
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
run_id:
  description: The run's id (for V(undo), the undo's own id); the quarantine's rows carry it.
  returned: repair, undo
  type: str
  sample: 20261126T231000Z-4f2a
undo_of:
  description: The repair run an undo restored.
  returned: undo
  type: str
  sample: 20261126T231000Z-4f2a
resumed:
  description: Whether an unfinished run was continued from its checkpoint.
  returned: repair, undo
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
conflict_samples:
  description: Some conflicting rows with the reason.
  returned: undo
  type: list
  elements: dict
  sample: [{"id": 1201, "reason": "changed since the repair", "current": "{\"a\": 2}", "repaired_to": null}]
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
  description: The action for every known kind, the default action and the wrap key.
  returned: repair
  type: dict
  sample: {"actions": {"INTEGER": "null", "STRING+OBJECT": "unwrap"}, "default_action": "null", "wrap_key": "value"}
binlog:
  description: Whether the changes go to the binary log, and a sentence saying so.
  returned: repair, undo
  type: dict
  sample: {"log_bin": true, "sql_log_bin": true, "format": "ROW", "logged": true, "message": "changes go to the binary log (ROW): replicas apply them"}
preconditions:
  description: What was checked before the first chunk.
  returned: repair, undo
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

import datetime
import os
import random
import re
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.jsonmend.chunks import Chunk, KeysetWalker
from ansible.module_utils.jsonmend.connection import (
    CONNECTION_ARGUMENT_SPEC,
    PYMYSQL_IMPORT_ERROR,
    TARGET_ARGUMENT_SPEC,
    connect,
    driver_error_types,
    driver_message,
)
from ansible.module_utils.jsonmend.errors import JsonmendError
from ansible.module_utils.jsonmend.grants import missing_privileges, parse_grants, redact
from ansible.module_utils.jsonmend.identifiers import validate_identifier
from ansible.module_utils.jsonmend.ledger import (
    ABANDONED,
    FINISHED,
    REPAIR,
    RUNNING,
    STOPPED,
    UNDO,
    Ledger,
    default_names,
    key_type_sql,
)
from ansible.module_utils.jsonmend.locks import AdvisoryLock, table_lock_name
from ansible.module_utils.jsonmend.policy import ACTIONS, SKIP, WRITING_ACTIONS, Policy, expression_group, group_sql, policy_problems
from ansible.module_utils.jsonmend.progress import ProgressLog, eta_seconds, progress_line, stats_block
from ansible.module_utils.jsonmend.throttle import Throttle, replica_probes

RUN_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SINCE_RE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?Z?")
RETRYABLE = (1205, 1213)  # lock wait timeout, deadlock
INTEGER_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
STRING_TYPES = ("char", "varchar")
GOOD_ACCESS = ("range", "const", "eq_ref", "ref", "system")
SAMPLE_CHARS = 200


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(
        mode=dict(type="str", default="repair", choices=["repair", "undo", "status"]),
        run_id=dict(type="str"),
        policy=dict(type="dict", default={"STRING+OBJECT": "unwrap"}),
        default_action=dict(type="str", default="null", choices=["wrap", "null", "skip"]),
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


def validate_params(params):
    """Refuse bad input before connecting; return the problems (empty when fine)."""
    problems = []
    if params["dialect"] == "sqlite":
        problems.append("dialect sqlite cannot be repaired (the file is opened read-only); repair on MariaDB or MySQL")
    for key in ("database", "table", "column", "primary_key", "timestamp_column"):
        try:
            validate_identifier(params[key], key)
        except JsonmendError as exc:
            problems.append(str(exc))
    for key in ("quarantine_table", "runs_table"):
        if params[key]:
            try:
                validate_identifier(params[key], key)
            except JsonmendError as exc:
                problems.append(str(exc))
    if params["run_id"] is not None and not RUN_ID_RE.fullmatch(params["run_id"]):
        problems.append("run_id %r must be 1-64 letters, digits, '_', '.', ':' or '-'" % params["run_id"])
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


def new_run_id():
    return "%s-%04x" % (datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"), random.randrange(65536))


def text(value, limit=SAMPLE_CHARS):
    """A value for output: bytes decoded, cut to `limit` characters; None stays None (SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "replace")
    value = str(value)
    return value if len(value) <= limit else value[:limit] + "…"


def plain(value):
    """A key for output."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def placeholders(values):
    return ", ".join(["%s"] * len(values))


class Target:
    """The repaired table: catalog checks, quoted names and the shared classification SQL."""

    def __init__(self, db, params):
        d = db.dialect
        self.database = params["database"]
        self.table = params["table"]
        self.column = params["column"]
        self.pk = params["primary_key"]
        cur = db.cursor()
        try:
            if not d.database_exists(cur, self.database):
                raise JsonmendError("database %r does not exist on the server" % self.database)
            columns = d.columns(cur, self.database, self.table)
            if not columns:
                raise JsonmendError("table %s.%s does not exist (or the user cannot see it)" % (self.database, self.table))
            for option, name in (("column", self.column), ("primary_key", self.pk)):
                if name not in columns:
                    raise JsonmendError("%s %r is not a column of %s.%s (columns: %s)" % (option, name, self.database, self.table, ", ".join(columns)))
            keys = d.primary_key(cur, self.database, self.table)
            self.json_check_constraint = d.json_check_constraint(cur, self.database, self.table, self.column)
            cur.execute(
                "SELECT COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND COLUMN_NAME = %s",
                (self.database, self.table, self.pk),
            )
            self.pk_column_type, self.pk_charset, self.pk_collation = cur.fetchone()
            cur.execute(
                "SELECT ENGINE, TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self.database, self.table),
            )
            self.engine, estimated = cur.fetchone()
            self.estimated_rows = int(estimated or 0)
        finally:
            cur.close()
        if not keys:
            raise JsonmendError(
                "table %s.%s has no primary key: the repair walks the primary key in chunks and cannot run without one" % (self.database, self.table)
            )
        if keys != [self.pk]:
            raise JsonmendError(
                "the primary key of %s.%s is (%s), not (%s): give primary_key the table's single-column primary key"
                % (self.database, self.table, ", ".join(keys), self.pk)
            )
        self.data_type = columns[self.pk]
        if self.data_type in INTEGER_TYPES:
            self.pk_is_integer = True
        elif self.data_type in STRING_TYPES:
            self.pk_is_integer = False
        else:
            raise JsonmendError("primary key %s is %s: the repair walks integer or (var)char keys" % (self.pk, self.data_type))
        if (self.engine or "").lower() != "innodb":
            raise JsonmendError("table %s.%s uses %s: the repair needs InnoDB's transactions and row locks" % (self.database, self.table, self.engine))
        self.column_type = columns[self.column]
        self.native_json = self.column_type == "json" and d.name == "mysql"
        self.table_sql = d.q(self.table)
        self.pk_sql = d.q(self.pk)
        self.col_sql = d.q(self.column)
        # FORCE INDEX keeps every chunk statement on the primary key, whatever the optimizer's estimates.
        self.scan_sql = "%s FORCE INDEX (PRIMARY)" % self.table_sql
        self.cls_sql = d.classify_expr(self.col_sql, self.native_json)
        self.corrupt_sql = d.corrupt_predicate(self.col_sql, self.native_json)
        self.key_type = key_type_sql(self.pk_column_type, self.pk_charset, self.pk_collation)

    def key_range(self, db):
        return db.query_one("SELECT MIN(%s), MAX(%s) FROM %s" % (self.pk_sql, self.pk_sql, self.table_sql))


class Stats:
    """Counters of one run: carried over from its checkpoint when resumed, plus this invocation's."""

    def __init__(self, carried=None):
        carried = carried or {}
        self.actions = dict((a, int((carried.get("actions") or {}).get(a, 0))) for a in ACTIONS)
        self.by_type = dict((k, dict(v)) for k, v in (carried.get("by_type") or {}).items())
        self.restored = int(carried.get("restored", 0))
        self.conflicts = int(carried.get("conflicts", 0))
        self.run_chunks = int(carried.get("chunks", 0))
        self.chunks = 0
        self.rows_examined = 0
        self.rows_changed_now = 0
        self.retries = 0

    def rows_changed(self):
        return sum(self.actions[a] for a in WRITING_ACTIONS)

    def add(self, kind, action, rows=1):
        self.actions[action] += rows
        entry = self.by_type.setdefault(kind, dict(action=action, rows=0))
        entry["rows"] += rows
        entry["action"] = action

    def ledger_counts(self):
        """A copy of the run's counters, as the runs table stores them."""
        return dict(
            actions=dict(self.actions),
            by_type=dict((k, dict(v)) for k, v in self.by_type.items()),
            restored=self.restored,
            conflicts=self.conflicts,
            chunks=self.run_chunks + self.chunks,
        )


class Job:
    """What repair and undo share: session settings, lock, checks, throttling, retries, progress."""

    kind = "repair"

    def __init__(self, params, db, target, ledger, check_mode, diff=False):
        self.params = params
        self.db = db
        self.t = target
        self.ledger = ledger
        self.check_mode = check_mode
        self.diff = diff
        self.warnings = []
        self.samples = []
        self.started = time.monotonic()
        self.last_progress = None
        self.chunk_size = params["chunk_size"]
        self.stopped = False
        self.lock = AdvisoryLock(db, table_lock_name(target.database, target.table), "%s.%s" % (target.database, target.table))
        self.progress = ProgressLog(params["progress_file"]) if params["progress_file"] and not check_mode else ProgressLog(None)
        self.throttle = Throttle(
            db,
            max_threads_running=params["max_threads_running"],
            max_replica_lag=params["max_replica_lag"],
            probes=replica_probes(params, params["replicas"], params["replica_lag_query"]),
            pause_file=params["pause_file"],
            interval=params["throttle_interval"],
            max_wait=params["max_throttle_time"],
        )

    # -- session -------------------------------------------------------------
    def open_session(self):
        """READ COMMITTED (no gap locks on the application's rows), a short lock wait, the binary log stance."""
        db = self.db
        db.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        db.query("SET SESSION innodb_lock_wait_timeout = %s", (int(self.params["innodb_lock_wait_timeout"]),))
        return self.binlog_stance()

    def binlog_stance(self):
        db = self.db
        log_bin, session_log_bin, fmt = db.query_one("SELECT @@GLOBAL.log_bin, @@SESSION.sql_log_bin, @@SESSION.binlog_format")
        log_bin, session_log_bin = bool(int(log_bin)), bool(int(session_log_bin))
        wanted = self.params["sql_log_bin"]
        if not self.check_mode and session_log_bin != wanted:
            try:
                db.query("SET SESSION sql_log_bin = %s", (1 if wanted else 0,))
            except driver_error_types() as exc:
                raise JsonmendError(
                    "could not set sql_log_bin=%d for the session (needs SUPER or BINLOG ADMIN): %s" % (1 if wanted else 0, driver_message(exc))
                ) from None
            session_log_bin = wanted
        if log_bin and session_log_bin and (fmt or "").upper() == "STATEMENT" and not self.check_mode:
            # InnoDB cannot log READ COMMITTED writes as statements.
            try:
                db.query("SET SESSION binlog_format = 'ROW'")
                fmt = "ROW"
            except driver_error_types() as exc:
                raise JsonmendError(
                    "binlog_format is STATEMENT, which cannot log READ COMMITTED changes, and the session could not switch to ROW: %s" % driver_message(exc)
                ) from None
        logged = log_bin and session_log_bin
        if logged:
            message = "changes go to the binary log (%s): replicas apply them" % fmt
        elif not log_bin:
            message = "binary logging is off on this server: the changes reach no replica and no binlog-based backup"
        else:
            message = "sql_log_bin=0 for this session: the changes are NOT in the binary log; replicas will not get them"
        if not logged:
            self.warnings.append(message)
        return dict(log_bin=log_bin, sql_log_bin=session_log_bin, format=fmt, logged=logged, message=message)

    def check_grants(self, needed_by_table):
        """Refuse when SHOW GRANTS gives no needed privilege; return a summary."""
        if not self.params["check_grants"]:
            return "not checked (check_grants=false)"
        lines = [row[0] for row in self.db.query("SHOW GRANTS")]
        grants = parse_grants(lines)
        missing = []
        for table, needed in needed_by_table:
            for privilege in missing_privileges(grants, self.t.database, table, needed):
                missing.append("%s on %s.%s" % (privilege, self.t.database, table))
        if missing:
            raise JsonmendError(
                "the user lacks %s (SHOW GRANTS: %s). Grant them, or set check_grants=false if they come from a role"
                " this check cannot see; nothing was changed" % (", ".join(missing), " | ".join(redact(line) for line in lines))
            )
        return "ok"

    def explain(self, label, statement, args):
        """EXPLAIN a chunk statement; refuse unless it reads a range of the primary key."""
        cur = self.db.cursor()
        try:
            cur.execute("EXPLAIN " + statement, args)
            names = [d[0].lower() for d in cur.description]
            rows = [dict(zip(names, row)) for row in cur.fetchall()]
        finally:
            cur.close()
        first = rows[0] if rows else {}
        access, key = first.get("type"), first.get("key")
        entry = dict(statement=label, type=access, key=key, rows=first.get("rows"))
        if access is None and "impossible" in str(first.get("extra") or "").lower():
            # Nothing left in the range: the statement reads no row at all.
            entry["type"] = "none"
            return entry
        if access not in GOOD_ACCESS or key != "PRIMARY":
            raise JsonmendError(
                "EXPLAIN of the %s shows access type %s on key %s, not a range of the primary key: refusing to scan the table; nothing was changed"
                % (label, access, key)
            )
        return entry

    # -- operator controls ---------------------------------------------------
    def stop_requested(self):
        return bool(self.params["stop_file"]) and os.path.exists(self.params["stop_file"])

    def refuse_if_stop_file(self):
        if self.stop_requested():
            raise JsonmendError("the stop file %s exists: remove it to start the run; nothing was changed" % self.params["stop_file"])

    def wait_for_throttle(self, rows_done, fraction, changed):
        def report(reason, waited):
            self.progress.write(progress_line(self.kind, self.run_id, rows_done, fraction, self.rate(), None, changed, self.chunk_size, reason))

        go = self.throttle.wait(should_stop=self.stop_requested, on_wait=report)
        if not go:
            self.stopped = True
        return go

    def rate(self):
        elapsed = time.monotonic() - self.started
        return self.stats.rows_examined / elapsed if elapsed > 0 else 0

    def maybe_progress(self, fraction, force=False):
        now = time.monotonic()
        if not force and self.last_progress is not None and now - self.last_progress < self.params["progress_interval"]:
            return
        self.last_progress = now
        elapsed = now - self.started
        self.progress.write(
            progress_line(
                self.kind,
                self.run_id,
                self.stats.rows_examined,
                fraction,
                self.rate(),
                eta_seconds(fraction, elapsed) if fraction else None,
                self.stats.rows_changed_now,
                self.chunk_size,
                self.throttle.last_reason if self.throttle.waits else None,
            )
        )

    def adapt(self, elapsed):
        """Move the chunk size toward chunk_time, at most doubling or halving per step."""
        p = self.params
        if not p["chunk_time"] or elapsed <= 0:
            return
        factor = min(2.0, max(0.5, p["chunk_time"] / elapsed))
        self.chunk_size = int(min(p["chunk_size_max"], max(p["chunk_size_min"], self.chunk_size * factor)))

    # -- transactions --------------------------------------------------------
    def rollback(self):
        try:
            self.db.conn.rollback()
        except Exception:  # noqa: BLE001 - the connection may be gone; the server rolls back itself
            pass

    def transaction(self, work, what):
        """Run work() in one transaction; retry on deadlock or lock wait timeout."""
        attempt = 0
        while True:
            try:
                self.db.query("START TRANSACTION")
                result = work()
                self.db.conn.commit()
                return result
            except driver_error_types() as exc:
                self.rollback()
                code = exc.args[0] if exc.args else None
                if code in RETRYABLE and attempt < self.params["max_retries"]:
                    attempt += 1
                    self.stats.retries += 1
                    time.sleep(min(5.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))
                    continue
                if code in RETRYABLE:
                    raise JsonmendError(
                        "%s failed %d times on row locks (%s); it was rolled back, earlier chunks are committed: run again to resume"
                        % (what, attempt + 1, driver_message(exc))
                    ) from None
                raise
            except BaseException:
                self.rollback()
                raise

    def statistics(self, status):
        duration = time.monotonic() - self.started
        s = self.stats
        values = dict(
            chunks=s.chunks,
            rows_examined=s.rows_examined,
            rows_changed=s.rows_changed() if self.kind == "repair" else s.restored,
            actions=s.actions if self.kind == "repair" else {},
            retries=s.retries,
            throttle_waits=self.throttle.waits,
            throttle_seconds=round(self.throttle.seconds, 3),
            duration_s=round(duration, 3),
            rows_per_s=int(s.rows_examined / duration) if duration > 0 else 0,
        )
        if self.kind == "undo":
            values.update(restored=s.restored, conflicts=s.conflicts)
        return values

    def close(self):
        self.throttle.close()
        self.progress.close()


class Repair(Job):
    """Walk the table, quarantine and repair corrupt values chunk by chunk."""

    kind = "repair"

    def __init__(self, params, db, target, ledger, check_mode, diff=False):
        super().__init__(params, db, target, ledger, check_mode, diff)
        self.policy = Policy(params["policy"], params["default_action"], params["wrap_key"])
        self.run_id = None
        self.run_recorded = False
        self.resumed = False
        self.last_checkpoint = 0.0

    def plan(self):
        """Pick the run (new or resumed) and its key range."""
        p = self.params
        described = self.policy.describe()
        previous = self.ledger.unfinished(REPAIR)
        if previous and not p["resume"]:
            if not self.check_mode:
                self.ledger.set_status(previous["run_id"], ABANDONED)
            self.warnings.append("unfinished run %s was abandoned (resume=false); its quarantined rows remain undoable" % previous["run_id"])
            previous = None
        if previous:
            if previous["policy"] and previous["policy"] != described:
                raise JsonmendError(
                    "run %s stopped unfinished with another policy (%s); run again with that policy to resume it, or set resume=false to"
                    " abandon it and start a new run" % (previous["run_id"], previous["policy"].get("actions"))
                )
            self.run_id = previous["run_id"]
            self.run_recorded = True
            self.resumed = True
            self.stats = Stats(previous["counts"])
            self.start_key, self.end_key = previous["start_key"], previous["end_key"]
            self.position, self.inclusive = (previous["last_key"], False) if previous["last_key"] is not None else (self.start_key, True)
            self.warnings.append("resumed run %s after key %s" % (self.run_id, previous["last_key"]))
            if p["run_id"] and p["run_id"] != self.run_id:
                self.warnings.append("run_id %s was not used: the unfinished run %s was resumed instead" % (p["run_id"], self.run_id))
            return
        if p["run_id"] and self.ledger.run(p["run_id"]):
            raise JsonmendError("run %s is already recorded as finished; a new repair needs a new run_id (or none)" % p["run_id"])
        self.run_id = p["run_id"] or new_run_id()
        self.stats = Stats()
        low, high = self.t.key_range(self.db)
        self.start_key, self.end_key = low, high
        self.position, self.inclusive = low, True

    def fraction(self):
        """How far the walk is, by key for integer keys, else by rows against the estimate."""
        if self.end_key is None:
            return 1.0
        if self.t.pk_is_integer:
            if self.end_key == self.start_key:
                return 0.0 if self.inclusive else 1.0
            return (self.position - self.start_key) / float(self.end_key - self.start_key)
        return min(1.0, self.stats.rows_examined / float(max(1, self.t.estimated_rows)))

    def preconditions(self):
        t = self.t
        checked = dict(primary_key=t.pk, engine=t.engine, column_type=t.column_type, json_check_constraint=t.json_check_constraint)
        if self.start_key is None:
            checked["explain"] = "table is empty"
        else:
            whole = Chunk(self.position, self.inclusive, self.end_key)
            checked["explain"] = [
                self.explain(
                    "chunk select",
                    "SELECT %s FROM %s WHERE %s AND %s" % (t.pk_sql, t.scan_sql, whole.where(t.pk_sql), t.corrupt_sql),
                    whole.args(),
                ),
                self.explain(
                    "chunk update",
                    "UPDATE %s SET %s = NULL WHERE %s AND %s IN (%%s) AND %s" % (t.scan_sql, t.col_sql, whole.where(t.pk_sql), t.pk_sql, t.corrupt_sql),
                    whole.args() + (self.end_key,),
                ),
            ]
        ledger_needs = ["SELECT", "INSERT", "UPDATE"] + ([] if self.ledger.exists() else ["CREATE"])
        checked["grants"] = self.check_grants(
            [(t.table, ["SELECT", "UPDATE"]), (self.ledger.quarantine, ledger_needs), (self.ledger.runs, ledger_needs)],
        )
        return checked

    # -- the walk ------------------------------------------------------------
    def run(self):
        self.refuse_if_stop_file()
        self.binlog = self.open_session()
        self.lock.acquire(self.params["lock_timeout"])
        try:
            self.plan()
            self.checked = self.preconditions()
            self.progress.write(
                "%s repair run=%s starts on %s.%s.%s: policy %s; %s%s"
                % (
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    self.run_id,
                    self.t.database,
                    self.t.table,
                    self.t.column,
                    self.policy.describe()["actions"],
                    self.binlog["message"],
                    "; resumed after key %s" % self.position if self.resumed else "",
                )
            )
            self.walk()
            status = STOPPED if self.stopped else FINISHED
            if self.run_recorded and not self.check_mode:
                self.transaction(lambda: self.ledger.checkpoint(self.run_id, self.position, self.stats.ledger_counts(), status), "the final checkpoint")
            return status
        finally:
            self.lock.release()

    def walk(self):
        t = self.t
        walker = KeysetWalker(self.db, t.scan_sql, t.pk_sql, self.position, self.end_key, self.inclusive)
        while True:
            if self.stop_requested():
                self.stopped = True
                break
            if not self.wait_for_throttle(self.stats.rows_examined, self.fraction(), self.stats.rows_changed_now):
                break
            began = time.monotonic()
            chunk = walker.next_chunk(self.chunk_size)
            if chunk is None:
                break
            rows = self.chunk_size if not walker.done else self.count(chunk)
            self.process(chunk)
            self.stats.chunks += 1
            self.stats.rows_examined += rows
            self.position, self.inclusive = chunk.high, False
            self.maybe_progress(self.fraction())
            self.adapt(time.monotonic() - began)
            if self.params["chunk_sleep"]:
                time.sleep(self.params["chunk_sleep"])
        self.maybe_progress(self.fraction() if self.stopped else 1.0, force=True)

    def count(self, chunk):
        t = self.t
        return int(self.db.query_one("SELECT COUNT(*) FROM %s WHERE %s" % (t.scan_sql, chunk.where(t.pk_sql)), chunk.args())[0])

    def candidates(self, chunk):
        """Corrupt rows of the chunk as (key, kind), read without locks."""
        t = self.t
        return self.db.query(
            "SELECT %s, %s FROM %s WHERE %s AND %s" % (t.pk_sql, t.cls_sql, t.scan_sql, chunk.where(t.pk_sql), t.corrupt_sql),
            chunk.args(),
        )

    def process(self, chunk):
        found = self.candidates(chunk)
        todo = []
        for key, kind in found:
            action = self.policy.action(kind)
            if action == SKIP:
                # Counted here: skipped rows are never locked or written.
                self.stats.add(kind, SKIP)
                continue
            todo.append((key, kind, action))
        if not todo:
            self.idle_checkpoint(chunk)
            return
        if self.check_mode:
            for _key, kind, action in todo:
                self.stats.add(kind, action)
                self.stats.rows_changed_now += 1
            self.collect_check_samples(chunk, todo)
            return
        if not self.ledger.exists():
            self.ledger.create(self.t.key_type)
        keys = [key for key, _kind, _action in todo]
        changed = self.transaction(lambda: self.repair_chunk(chunk, keys), "chunk %r" % chunk)
        for kind, action, rows in changed:
            self.stats.add(kind, action, rows)
            self.stats.rows_changed_now += rows
        self.last_checkpoint = time.monotonic()
        if len(self.samples) < self.params["sample_limit"]:
            self.collect_samples(keys)

    def repair_chunk(self, chunk, keys):
        """One transaction: lock the rows still corrupt, quarantine them, update them, checkpoint."""
        t, db = self.t, self.db
        bounds, bound_args = chunk.where(t.pk_sql), chunk.args()
        locked = db.query(
            "SELECT %s, %s FROM %s WHERE %s AND %s IN (%s) AND %s FOR UPDATE"
            % (t.pk_sql, t.cls_sql, t.scan_sql, bounds, t.pk_sql, placeholders(keys), t.corrupt_sql),
            bound_args + tuple(keys),
        )
        groups = {}
        for key, kind in locked:
            action = self.policy.action(kind)
            if action == SKIP:
                continue
            group = groups.setdefault(expression_group(action, kind), dict(keys=[], kinds=set(), per_kind={}))
            group["keys"].append(key)
            group["kinds"].add(kind)
            group["per_kind"][kind] = group["per_kind"].get(kind, 0) + 1
        changed = []
        if not groups:
            return changed
        if not self.run_recorded:
            self.ledger.start_run(self.run_id, REPAIR, self.policy.describe(), self.start_key, self.end_key)
        read_back = []
        for group, members in sorted(groups.items()):
            action = group[0]
            ids = members["keys"]
            kinds = sorted(members["kinds"])
            expression, expression_args = group_sql(group, t.col_sql, self.policy.wrap_key)
            cur = db.cursor()
            try:
                inserted = cur.execute(
                    "INSERT INTO %s (run_id, row_pk, column_name, json_type, action, original_value, repaired_at)"
                    " SELECT %%s, %s, %%s, %s, %%s, %s, UTC_TIMESTAMP(6) FROM %s WHERE %s AND %s IN (%s)"
                    % (self.ledger.q_sql, t.pk_sql, t.cls_sql, t.col_sql, t.scan_sql, bounds, t.pk_sql, placeholders(ids)),
                    (self.run_id, t.column, action) + bound_args + tuple(ids),
                )
                updated = cur.execute(
                    "UPDATE %s SET %s = %s WHERE %s AND %s IN (%s) AND (%s) IN (%s)"
                    % (t.scan_sql, t.col_sql, expression, bounds, t.pk_sql, placeholders(ids), t.cls_sql, placeholders(kinds)),
                    tuple(expression_args) + bound_args + tuple(ids) + tuple(kinds),
                )
            finally:
                cur.close()
            if inserted != len(ids) or updated != len(ids):
                raise JsonmendError(
                    "chunk %r: %d rows locked for %s but %d quarantined and %d updated; rolled back, nothing of this chunk was changed"
                    % (chunk, len(ids), action, inserted, updated)
                )
            if action != "null":
                read_back += ids
            changed += [(kind, action, rows) for kind, rows in sorted(members["per_kind"].items())]
        if read_back:
            # What the column holds now, byte for byte (the server may normalise what it stores):
            # undo compares against exactly this.
            db.query(
                "UPDATE %s AS q JOIN %s AS t ON t.%s = q.row_pk SET q.new_value = t.%s WHERE q.run_id = %%s AND q.row_pk IN (%s)"
                % (self.ledger.q_sql, t.table_sql, t.pk_sql, t.col_sql, placeholders(read_back)),
                (self.run_id,) + tuple(read_back),
            )
        counts = self.stats.ledger_counts()
        for kind, action, rows in changed:
            counts["actions"][action] = counts["actions"].get(action, 0) + rows
            entry = counts["by_type"].setdefault(kind, dict(action=action, rows=0))
            entry = dict(entry, rows=entry["rows"] + rows)
            counts["by_type"][kind] = entry
        counts["chunks"] += 1
        self.ledger.checkpoint(self.run_id, chunk.high, counts)
        self.run_recorded = True
        return changed

    def idle_checkpoint(self, chunk):
        """Clean chunks move the checkpoint every few seconds, so a resumed run skips them."""
        if self.check_mode or not self.run_recorded or time.monotonic() - self.last_checkpoint < 5:
            return
        self.transaction(lambda: self.ledger.checkpoint(self.run_id, chunk.high, self.stats.ledger_counts()), "a checkpoint")
        self.last_checkpoint = time.monotonic()

    def collect_samples(self, keys):
        want = self.params["sample_limit"] - len(self.samples)
        rows = self.db.query(
            "SELECT row_pk, json_type, action, LEFT(original_value, %d), LEFT(new_value, %d) FROM %s WHERE run_id = %%s AND row_pk IN (%s) ORDER BY row_pk LIMIT %d"
            % (SAMPLE_CHARS + 1, SAMPLE_CHARS + 1, self.ledger.q_sql, placeholders(keys), want),
            (self.run_id,) + tuple(keys),
        )
        for key, kind, action, before, after in rows:
            self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(before), after=text(after)))

    def collect_check_samples(self, chunk, todo):
        want = self.params["sample_limit"] - len(self.samples)
        if want <= 0:
            return
        t = self.t
        for key, kind, action in todo[:want]:
            expression, args = group_sql(expression_group(action, kind), t.col_sql, self.policy.wrap_key)
            row = self.db.query_one(
                "SELECT LEFT(%s, %d), LEFT(%s, %d) FROM %s WHERE %s = %%s" % (t.col_sql, SAMPLE_CHARS + 1, expression, SAMPLE_CHARS + 1, t.scan_sql, t.pk_sql),
                tuple(args or ()) + (key,),
            )
            if row:
                self.samples.append(dict(id=plain(key), type=kind, action=action, before=text(row[0]), after=text(row[1])))

    def result(self, status):
        stats = self.statistics(status)
        counts = self.stats.ledger_counts()
        return dict(
            mode="repair",
            run_id=self.run_id,
            resumed=self.resumed,
            status=status,
            actions=counts["actions"],
            by_type=counts["by_type"],
            rows_changed=self.stats.rows_changed(),
            rows_changed_now=self.stats.rows_changed_now,
            rows_examined=self.stats.rows_examined,
            chunks=self.stats.chunks,
            retries=self.stats.retries,
            throttle_waits=stats["throttle_waits"],
            throttle_seconds=stats["throttle_seconds"],
            duration_s=stats["duration_s"],
            rows_per_s=stats["rows_per_s"],
            chunk_size=dict(initial=self.params["chunk_size"], final=self.chunk_size, min=self.params["chunk_size_min"], max=self.params["chunk_size_max"]),
            key_range=dict(start=plain(self.start_key), end=plain(self.end_key), last=plain(self.position)),
            samples=self.samples,
            policy=self.policy.describe(),
            binlog=self.binlog,
            preconditions=self.checked,
            statistics=stats_block("repair", self.run_id, status + (" (check mode: nothing changed)" if self.check_mode else ""), stats),
        )


class Undo(Job):
    """Put back the quarantined pre-images of one repair run where nothing changed them since."""

    kind = "undo"

    def __init__(self, params, db, target, ledger, check_mode, diff=False):
        super().__init__(params, db, target, ledger, check_mode, diff)
        self.run_id = None
        self.undo_of = None
        self.run_recorded = False
        self.resumed = False
        self.conflict_samples = []

    def plan(self):
        p = self.params
        if not self.ledger.exists():
            raise JsonmendError(
                "no repair has been recorded for %s.%s.%s (table %s does not exist): nothing to undo"
                % (self.t.database, self.t.table, self.t.column, self.ledger.quarantine)
            )
        if p["run_id"]:
            target = self.ledger.run(p["run_id"])
            if target is None or target["kind"] != REPAIR or target["column_name"] != self.t.column:
                raise JsonmendError("run %s is not a repair run of %s.%s in %s" % (p["run_id"], self.t.table, self.t.column, self.ledger.runs))
        else:
            target = self.ledger.latest_repair()
            if target is None:
                raise JsonmendError("no repair run of %s.%s is recorded in %s: nothing to undo" % (self.t.table, self.t.column, self.ledger.runs))
        self.undo_of = target["run_id"]
        if target["status"] in (RUNNING, STOPPED):
            self.warnings.append("run %s is unfinished (%s): undoing what it changed so far" % (self.undo_of, target["status"]))
        total, undone, low, high = self.ledger.quarantined_rows(self.undo_of)
        self.total, self.already_undone = total, undone
        previous = self.ledger.unfinished(UNDO, undo_of=self.undo_of)
        if previous:
            self.run_id = previous["run_id"]
            self.run_recorded = True
            self.resumed = True
            self.stats = Stats(previous["counts"])
            # Conflicts are re-checked by every pass, so a resumed pass counts them afresh.
            self.stats.conflicts = 0
            self.start_key, self.end_key = previous["start_key"], previous["end_key"]
            self.position, self.inclusive = (previous["last_key"], False) if previous["last_key"] is not None else (self.start_key, True)
            self.warnings.append("resumed undo %s of run %s after key %s" % (self.run_id, self.undo_of, previous["last_key"]))
            return
        self.run_id = "%s-undo-%s" % (self.undo_of[:40], datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ"))
        self.stats = Stats()
        self.start_key, self.end_key = low, high
        self.position, self.inclusive = low, True

    def fraction(self):
        if self.end_key is None:
            return 1.0
        if self.t.pk_is_integer:
            if self.end_key == self.start_key:
                return 0.0 if self.inclusive else 1.0
            return (self.position - self.start_key) / float(self.end_key - self.start_key)
        return min(1.0, self.stats.rows_examined / float(max(1, self.total)))

    def preconditions(self):
        t = self.t
        checked = dict(primary_key=t.pk, engine=t.engine, quarantined_rows=self.total, already_undone=self.already_undone)
        if self.start_key is not None:
            whole = Chunk(self.position, self.inclusive, self.end_key)
            checked["explain"] = [
                self.explain(
                    "undo update",
                    "UPDATE %s SET %s = NULL WHERE %s AND %s IN (%%s)" % (t.scan_sql, t.col_sql, whole.where(t.pk_sql), t.pk_sql),
                    whole.args() + (self.end_key,),
                )
            ]
            entry = self.explain_quarantine(whole)
            checked["explain"].append(entry)
        checked["grants"] = self.check_grants(
            [(t.table, ["SELECT", "UPDATE"]), (self.ledger.quarantine, ["SELECT", "UPDATE"]), (self.ledger.runs, ["SELECT", "INSERT", "UPDATE"])]
        )
        return checked

    def explain_quarantine(self, whole):
        cur = self.db.cursor()
        try:
            cur.execute(
                "EXPLAIN SELECT id FROM %s FORCE INDEX (run_row) WHERE run_id = %%s AND %s" % (self.ledger.q_sql, whole.where("row_pk")),
                (self.undo_of,) + whole.args(),
            )
            names = [d[0].lower() for d in cur.description]
            row = dict(zip(names, cur.fetchone()))
        finally:
            cur.close()
        if row.get("type") is None and "impossible" in str(row.get("extra") or "").lower():
            return dict(statement="quarantine select", type="none", key=None, rows=0)
        if row.get("type") not in GOOD_ACCESS or row.get("key") != "run_row":
            raise JsonmendError(
                "EXPLAIN of the quarantine walk shows %s on %s, not a range of run_row; nothing was changed" % (row.get("type"), row.get("key"))
            )
        return dict(statement="quarantine select", type=row.get("type"), key=row.get("key"), rows=row.get("rows"))

    def run(self):
        self.refuse_if_stop_file()
        self.binlog = self.open_session()
        if self.db.dialect.name == "mariadb" and not self.check_mode:
            # Pre-images may be invalid text whose CHECK (json_valid) was bypassed when it was
            # written; putting them back byte for byte needs the same bypass, for this session only.
            self.db.query("SET SESSION check_constraint_checks = 0")
        self.lock.acquire(self.params["lock_timeout"])
        try:
            self.plan()
            self.checked = self.preconditions()
            self.progress.write(
                "%s undo run=%s of repair run %s on %s.%s.%s: %d quarantined rows, %d already undone; %s"
                % (
                    datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    self.run_id,
                    self.undo_of,
                    self.t.database,
                    self.t.table,
                    self.t.column,
                    self.total,
                    self.already_undone,
                    self.binlog["message"],
                )
            )
            self.walk()
            status = STOPPED if self.stopped else FINISHED
            if not self.check_mode and self.run_recorded:

                def finish():
                    self.ledger.checkpoint(self.run_id, self.position, self.stats.ledger_counts(), status)
                    if status == FINISHED:
                        self.ledger.mark_undone(self.undo_of, self.run_id)

                self.transaction(finish, "the final checkpoint")
            return status
        finally:
            self.lock.release()

    def walk(self):
        q = self.ledger.q_sql
        walker = KeysetWalker(
            self.db, "%s FORCE INDEX (run_row)" % q, "row_pk", self.position, self.end_key, self.inclusive, where="run_id = %s", where_args=(self.undo_of,)
        )
        while True:
            if self.stop_requested():
                self.stopped = True
                break
            if not self.wait_for_throttle(self.stats.rows_examined, self.fraction(), self.stats.rows_changed_now):
                break
            began = time.monotonic()
            chunk = walker.next_chunk(self.chunk_size)
            if chunk is None:
                break
            if self.check_mode:
                examined = self.check_chunk(chunk)
            else:
                examined = self.transaction(lambda c=chunk: self.undo_chunk(c), "undo chunk %r" % chunk)
            self.stats.chunks += 1
            self.stats.rows_examined += examined
            self.position, self.inclusive = chunk.high, False
            self.maybe_progress(self.fraction())
            self.adapt(time.monotonic() - began)
            if self.params["chunk_sleep"]:
                time.sleep(self.params["chunk_sleep"])
        self.maybe_progress(self.fraction() if self.stopped else 1.0, force=True)

    def chunk_rows(self, chunk, lock):
        """Quarantined rows of the chunk not undone yet, each with whether it may be restored."""
        t, q = self.t, self.ledger.q_sql
        return self.db.query(
            "SELECT q.row_pk, t.%s IS NULL, CAST(t.%s AS BINARY) <=> q.new_value,"
            " EXISTS (SELECT 1 FROM %s AS later WHERE later.row_pk = q.row_pk AND later.column_name = q.column_name"
            "         AND later.id > q.id AND later.undone_at IS NULL),"
            " LEFT(t.%s, %d), LEFT(q.new_value, %d), LEFT(q.original_value, %d), q.json_type, q.action"
            " FROM %s AS q FORCE INDEX (run_row) LEFT JOIN %s AS t ON t.%s = q.row_pk"
            " WHERE q.run_id = %%s AND %s AND q.undone_at IS NULL ORDER BY q.row_pk%s"
            % (
                t.pk_sql,
                t.col_sql,
                q,
                t.col_sql,
                SAMPLE_CHARS + 1,
                SAMPLE_CHARS + 1,
                SAMPLE_CHARS + 1,
                q,
                t.table_sql,
                t.pk_sql,
                chunk.where("q.row_pk"),
                " FOR UPDATE" if lock else "",
            ),
            (self.undo_of,) + chunk.args(),
        )

    def classify(self, rows):
        restorable, conflicts = [], []
        for key, gone, same, later, current, repaired, original, kind, action in rows:
            if gone:
                conflicts.append(dict(id=plain(key), reason="row deleted since the repair", current=None, repaired_to=text(repaired)))
            elif later:
                conflicts.append(
                    dict(id=plain(key), reason="repaired again by a later run: undo that run first", current=text(current), repaired_to=text(repaired))
                )
            elif not same:
                conflicts.append(dict(id=plain(key), reason="changed since the repair", current=text(current), repaired_to=text(repaired)))
            else:
                restorable.append((key, kind, action, original, repaired))
        return restorable, conflicts

    def note(self, restorable, conflicts):
        self.stats.conflicts += len(conflicts)
        room = self.params["sample_limit"] - len(self.conflict_samples)
        self.conflict_samples += conflicts[: max(0, room)]
        room = self.params["sample_limit"] - len(self.samples)
        for key, kind, action, original, repaired in restorable[: max(0, room)]:
            self.samples.append(dict(id=plain(key), type=kind, action="undo " + action, before=text(repaired), after=text(original)))

    def check_chunk(self, chunk):
        rows = self.chunk_rows(chunk, lock=False)
        restorable, conflicts = self.classify(rows)
        self.stats.restored += len(restorable)
        self.note(restorable, conflicts)
        return len(rows)

    def undo_chunk(self, chunk):
        t, q, db = self.t, self.ledger.q_sql, self.db
        rows = self.chunk_rows(chunk, lock=True)
        restorable, conflicts = self.classify(rows)
        keys = [r[0] for r in restorable]
        if keys:
            if not self.run_recorded:
                self.ledger.start_run(self.run_id, UNDO, {}, self.start_key, self.end_key, undo_of=self.undo_of)
            cur = db.cursor()
            try:
                restored = cur.execute(
                    "UPDATE %s AS t FORCE INDEX (PRIMARY) JOIN %s AS q ON q.row_pk = t.%s AND q.run_id = %%s"
                    " SET t.%s = q.original_value WHERE t.%s IN (%s) AND CAST(t.%s AS BINARY) <=> q.new_value"
                    % (t.table_sql, q, t.pk_sql, t.col_sql, t.pk_sql, placeholders(keys), t.col_sql),
                    (self.undo_of,) + tuple(keys),
                )
                marked = cur.execute(
                    "UPDATE %s SET undone_by = %%s, undone_at = UTC_TIMESTAMP(6) WHERE run_id = %%s AND row_pk IN (%s)" % (q, placeholders(keys)),
                    (self.run_id, self.undo_of) + tuple(keys),
                )
            finally:
                cur.close()
            if restored != len(keys) or marked != len(keys):
                raise JsonmendError("undo chunk %r: %d rows locked, %d restored, %d marked; rolled back" % (chunk, len(keys), restored, marked))
        if self.run_recorded or keys:
            counts = self.stats.ledger_counts()
            counts.update(restored=counts["restored"] + len(keys), conflicts=counts["conflicts"] + len(conflicts), chunks=counts["chunks"] + 1)
            self.ledger.checkpoint(self.run_id, chunk.high, counts)
            self.run_recorded = True
        # Counted only once the transaction can commit (a retry runs this again).
        self.pending = (restorable, conflicts)
        return len(rows)

    def transaction(self, work, what):
        self.pending = None
        result = super().transaction(work, what)
        if self.pending:
            restorable, conflicts = self.pending
            self.stats.restored += len(restorable)
            self.stats.rows_changed_now += len(restorable)
            self.note(restorable, conflicts)
        return result

    def result(self, status):
        stats = self.statistics(status)
        return dict(
            mode="undo",
            run_id=self.run_id,
            undo_of=self.undo_of,
            resumed=self.resumed,
            status=status,
            restored=self.stats.restored,
            conflicts=self.stats.conflicts,
            conflict_samples=self.conflict_samples,
            rows_changed=self.stats.restored,
            rows_changed_now=self.stats.rows_changed_now if not self.check_mode else self.stats.restored,
            rows_examined=self.stats.rows_examined,
            chunks=self.stats.chunks,
            retries=self.stats.retries,
            throttle_waits=stats["throttle_waits"],
            throttle_seconds=stats["throttle_seconds"],
            duration_s=stats["duration_s"],
            rows_per_s=stats["rows_per_s"],
            chunk_size=dict(initial=self.params["chunk_size"], final=self.chunk_size, min=self.params["chunk_size_min"], max=self.params["chunk_size_max"]),
            key_range=dict(start=plain(self.start_key), end=plain(self.end_key), last=plain(self.position)),
            samples=self.samples,
            binlog=self.binlog,
            preconditions=self.checked,
            statistics=stats_block("undo", self.run_id, status + (" (check mode: nothing changed)" if self.check_mode else ""), stats),
        )


def status_report(params, db, target, ledger):
    """Read-only: the recorded runs and, with `since`, what a restore from then would lose."""
    runs = ledger.runs_list()
    for run in runs:
        total, undone, _low, _high = ledger.quarantined_rows(run["run_id"]) if run["kind"] == REPAIR else (None, None, None, None)
        run["quarantined_rows"], run["undone_rows"] = total, undone
    latest = ledger.latest_repair()
    result = dict(mode="status", runs=runs, latest_repair_run=latest["run_id"] if latest else None)
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


def diff_of(samples):
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


def execute(params, check_mode=False, diff=False):
    """Connect and run the requested mode; return the module result (without `changed`)."""
    db = connect(params, autocommit=True)
    job = None
    try:
        target = Target(db, params)
        quarantine, runs = default_names(target.table) if not (params["quarantine_table"] and params["runs_table"]) else (None, None)
        ledger = Ledger(db, target.database, target.table, target.column, params["quarantine_table"] or quarantine, params["runs_table"] or runs)
        names = dict(quarantine_table=ledger.quarantine, runs_table=ledger.runs)
        if params["mode"] == "status":
            result = status_report(params, db, target, ledger)
            result.update(names, warnings_text=[])
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


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if PYMYSQL_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)
    problems = validate_params(params)
    if problems:
        module.fail_json(msg="json_type_repair refused its input (nothing was changed): " + "; ".join(problems))
    what = "json_type_repair %s of %s.%s.%s" % (params["mode"], params["database"], params["table"], params["column"])
    try:
        result = execute(params, check_mode=module.check_mode, diff=module._diff)
    except JsonmendError as exc:
        module.fail_json(msg="%s: %s" % (what, exc))
    except driver_error_types() as exc:
        module.fail_json(
            msg="%s failed: %s. Every chunk is its own transaction: committed chunks are repaired and quarantined, the current one was rolled back;"
            " run again to resume from the checkpoint" % (what, driver_message(exc))
        )
    for warning in result.get("warnings_text", []):
        module.warn(warning)
    changed = result.get("rows_changed_now", 0) > 0
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
