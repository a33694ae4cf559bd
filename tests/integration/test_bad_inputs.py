# Every playbook refuses bad input with a message that names it, before any change: the
# catalogue below runs each case with `ansible-playbook` against one seeded database, one real
# app stack (quizsite under supervisord) and one backup directory, and proves with checksums of
# the database server and hashes of the app and backup trees that nothing changed.
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import repair as r
from tools.devstack import seed
from tools.devstack.app_stack import git
from tools.devstack.mariadb_server import TOOL_PASSWORD
from tools.devstack.playbooks import db_vars, run_playbook

pytestmark = pytest.mark.chaos

CORRUPT_VALUES = ["3.5", "42", '"text"', "[1, 2]", "true", json.dumps(json.dumps({"question_id": 9}))]
CORRUPT = 20  # strategy B with the default thresholds
INJECTION = "x`; DROP TABLE y; --"
NO_SUCH_BACKUP = "backup_20200101_000000"
# A closed port: nothing listens there, so the connection is refused at once.
CLOSED_PORT = 1
# The files a refused run may write to its report directory: its own record (deploy.yml,
# rollback.yml and the emergency write one whatever the outcome).
REPORT_FILES = {"record.json", "record.md", "records.jsonl", "deploy.json", "deploy-latest.json"}


def case(case_id, playbook, message, **variables):
    return pytest.param(playbook, variables, message, id=case_id)


# (id, playbook, message the output must hold, extra vars). {backup_id}, {database_backup_id},
# {tampered_dir} and the like are filled from the fixtures.
CATALOGUE = [
    # --- fleet_diagnose.yml: the default inventory has no jsonmend_targets ---------------------------
    case("fleet-no-targets", "fleet_diagnose.yml", "There is no host in group jsonmend_targets"),
    case("fleet-cleanup-no-targets", "fleet_cleanup.yml", "There is no host in group jsonmend_targets", jsonmend_confirm="yes"),
    case("fleet-deploy-no-targets", "fleet_deploy.yml", "There is no host in group jsonmend_targets", jsonmend_confirm="yes"),
    case("fleet-undo-no-targets", "fleet_undo.yml", "There is no host in group jsonmend_targets"),
    case("fleet-guard-no-targets", "fleet_guard.yml", "There is no host in group jsonmend_targets", jsonmend_guard_mode="observe"),
    case("fleet-weekly-no-targets", "fleet_weekly_check.yml", "There is no host in group jsonmend_targets"),
    case("fleet-monitor-no-targets", "fleet_monitor.yml", "There is no host in group jsonmend_targets"),
    # --- phase2_diagnose.yml (backs up first: every knob is checked before the backup) ----------
    case("diagnose-table-injection", "phase2_diagnose.yml", 'jsonmend_table="x`; DROP TABLE y; --" is not a valid identifier', jsonmend_table=INJECTION),
    case("diagnose-missing-column", "phase2_diagnose.yml", "column 'no_such_column' is not a column of", jsonmend_column="no_such_column"),
    case("diagnose-missing-table", "phase2_diagnose.yml", "analytics_no_such_table does not exist", jsonmend_table="analytics_no_such_table"),
    case(
        "diagnose-db-name-injection",
        "phase2_diagnose.yml",
        'jsonmend_db_name="db`; DROP DATABASE mysql; --" is not a valid database name',
        jsonmend_db_name="db`; DROP DATABASE mysql; --",
    ),
    case("diagnose-chunk-negative", "phase2_diagnose.yml", "diagnose_chunk_size=-5 must be a whole number, 0 or more", diagnose_chunk_size=-5),
    case("diagnose-chunk-not-a-number", "phase2_diagnose.yml", "argument 'diagnose_chunk_size' is of type str", diagnose_chunk_size="lots"),
    case("diagnose-sample-limit-negative", "phase2_diagnose.yml", "diagnose_sample_limit=-1 must be a whole number, 0 or more", diagnose_sample_limit=-1),
    case("diagnose-unknown-priority", "phase2_diagnose.yml", 'diagnose_priorities={"login": "URGENT"} must map', diagnose_priorities={"login": "URGENT"}),
    case("diagnose-thresholds-overlap", "phase2_diagnose.yml", "strategy_thresholds overlap", strategy_thresholds={"a_max": 0, "b_max": 600, "c_max": 500}),
    case(
        "diagnose-thresholds-not-numbers",
        "phase2_diagnose.yml",
        "'b_max' is of type str found in 'strategy_thresholds'",
        strategy_thresholds={"a_max": 0, "b_max": "fifty", "c_max": 500},
    ),
    case("diagnose-wrong-password", "phase2_diagnose.yml", "Access denied", jsonmend_db_password="not-the-password"),
    case("diagnose-unreachable-host", "phase2_diagnose.yml", "Can't connect", jsonmend_db_port=CLOSED_PORT),
    case(
        "diagnose-unknown-dialect",
        "phase2_diagnose.yml",
        "value of jsonmend_db_dialect must be one of: auto, mariadb, mysql, postgresql, sqlite, got: oracle",
        jsonmend_db_dialect="oracle",
    ),
    # --- backup.yml --------------------------------------------------------------------------
    case("backup-unknown-scope", "backup.yml", "value of backup_scope must be one of: table, database, got: everything", jsonmend_backup_scope="everything"),
    case("backup-relative-dir", "backup.yml", 'backup_dir="backups"', backup_dir="backups"),
    case("backup-dir-is-a-file", "backup.yml", "not a directory", backup_dir="{not_a_dir}"),
    case("backup-dir-not-writable", "backup.yml", "backup directory /proc/1 is not writable", backup_dir="/proc/1"),
    case("backup-label-injection", "backup.yml", "backup_label=", backup_label="x; rm -rf /"),
    case("backup-compress-level", "backup.yml", "backup_compress_level=12", backup_compress_level=12),
    # --- restore.yml -------------------------------------------------------------------------
    case("restore-missing-backup", "restore.yml", NO_SUCH_BACKUP + ".manifest.json does not exist", backup_restore_id=NO_SUCH_BACKUP),
    case("restore-altered-backup", "restore.yml", "does not match its manifest: sha256", backup_dir="{tampered_dir}", backup_restore_id="{backup_id}"),
    case("restore-id-path-traversal", "restore.yml", 'backup_restore_id="../../etc/passwd"', backup_restore_id="../../etc/passwd"),
    case(
        "restore-unknown-scope",
        "restore.yml",
        "value of backup_restore_scope must be one of: table, database, got: everything",
        backup_restore_scope="everything",
    ),
    case("restore-not-confirmed", "restore.yml", "Restore not confirmed", jsonmend_confirm="no"),
    # --- cleanup.yml (backs up first) ---------------------------------------------------------
    case("cleanup-unknown-action", "cleanup.yml", 'cleanup_policy={"INTEGER": "explode"} must map', cleanup_policy={"INTEGER": "explode"}),
    case("cleanup-unwrap-a-number", "cleanup.yml", 'cleanup_policy={"INTEGER": "unwrap"} must map', cleanup_policy={"INTEGER": "unwrap"}),
    case("cleanup-wrap-key-empty", "cleanup.yml", 'cleanup_wrap_key="" must be a non-empty key', cleanup_wrap_key=""),
    case("cleanup-chunk-negative", "cleanup.yml", "cleanup_chunk_size=-10 must be a whole number, 1 or more", cleanup_chunk_size=-10),
    case("cleanup-relative-control-dir", "cleanup.yml", 'cleanup_control_dir="control" must be an absolute path', cleanup_control_dir="control"),
    case("cleanup-without-backup", "cleanup.yml", "No verified backup covers", jsonmend_backup=False),
    case("cleanup-missing-key", "cleanup.yml", "primary_key 'uuid' is not a column of", jsonmend_primary_key="uuid"),
    # --- deploy.yml --------------------------------------------------------------------------
    case("deploy-unknown-strategy", "deploy.yml", 'strategy="E" is not a strategy', strategy="E"),
    case(
        "deploy-d-without-approval",
        "deploy.yml",
        "STOP - strategy D (20 corrupted rows, range 11+)",
        strategy="D",
        strategy_thresholds={"a_max": 0, "b_max": 5, "c_max": 10},
    ),
    case("deploy-no-such-ref", "deploy.yml", '"no-such-branch" is not a branch or tag of', strategy="auto", jsonmend_app_version="no-such-branch"),
    case(
        "deploy-flag-outside-allowed-dir",
        "deploy.yml",
        "/etc/jsonmend-maintenance.flag",
        strategy="B",
        jsonmend_maintenance_flag="/etc/jsonmend-maintenance.flag",
    ),
    case(
        "deploy-unknown-notify-channel",
        "deploy.yml",
        "value of notify_channels must be one or more of: email, webhook. Got no match for: sms",
        strategy="B",
        notify_channels=["sms"],
    ),
    case("deploy-unknown-repair-action", "deploy.yml", 'cleanup_policy={"INTEGER": "explode"} must map', strategy="B", cleanup_policy={"INTEGER": "explode"}),
    case(
        "deploy-unknown-verify-check",
        "deploy.yml",
        "value of verify_checks must be one or more of: scan, commands, health, smoke, logs. Got no match for: bogus",
        strategy="B",
        verify_checks=["scan", "bogus"],
    ),
    # --- rollback.yml ------------------------------------------------------------------------
    case(
        "rollback-unknown-scope", "rollback.yml", 'jsonmend_rollback_scope must be code, data or both (got "everything")', jsonmend_rollback_scope="everything"
    ),
    case("rollback-no-such-ref", "rollback.yml", "no-such-tag is not a commit of", jsonmend_rollback_scope="code", jsonmend_rollback_ref="no-such-tag"),
    case(
        "rollback-run-id-injection",
        "rollback.yml",
        'jsonmend_rollback_run_id a run id (got "x\'; DROP TABLE y; --")',
        jsonmend_rollback_scope="data",
        jsonmend_rollback_run_id="x'; DROP TABLE y; --",
    ),
    # --- emergency_rollback.yml --------------------------------------------------------------
    case("emergency-missing-backup", "emergency_rollback.yml", NO_SUCH_BACKUP + ".manifest.json does not exist", backup_restore_id=NO_SUCH_BACKUP),
    case("emergency-table-backup", "emergency_rollback.yml", "table backup, not a database backup", backup_restore_id="{backup_id}"),
    case(
        "emergency-altered-backup",
        "emergency_rollback.yml",
        "does not match its manifest: sha256",
        backup_dir="{tampered_dir}",
        backup_restore_id="{database_backup_id}",
    ),
    # --- monitor.yml -------------------------------------------------------------------------
    case(
        "monitor-relative-error-log", "monitor.yml", 'jsonmend_app_error_log="log/error.log" must be an absolute path', jsonmend_app_error_log="log/error.log"
    ),
    case(
        "monitor-app-url-with-a-path",
        "monitor.yml",
        'jsonmend_app_url="http://127.0.0.1:8000/app" must be http(s)://host[:port], without a path',
        jsonmend_app_url="http://127.0.0.1:8000/app/",
    ),
    case("monitor-negative-window", "monitor.yml", "monitor_window_hours=-1 must be a number of hours, 0 or more", monitor_window_hours=-1),
    case(
        "monitor-unknown-notify-channel",
        "monitor.yml",
        "value of notify_channels must be one or more of: email, webhook. Got no match for: sms",
        notify_channels=["sms"],
    ),
    # --- weekly_check.yml --------------------------------------------------------------------
    case(
        "weekly-unknown-notify-channel",
        "weekly_check.yml",
        "value of notify_channels must be one or more of: email, webhook. Got no match for: sms",
        notify_channels=["sms"],
    ),
    case(
        "weekly-thresholds-not-numbers",
        "weekly_check.yml",
        "'a_max' is of type str found in 'strategy_thresholds'",
        strategy_thresholds={"a_max": "none", "b_max": 50, "c_max": 500},
    ),
    case("weekly-wrong-password", "weekly_check.yml", "Access denied", jsonmend_db_password="not-the-password"),
    # --- guard.yml ---------------------------------------------------------------------------
    case("guard-unknown-mode", "guard.yml", "value of guard_mode must be one of: observe, enforce, off, status, got: onn", jsonmend_guard_mode="onn"),
    case("guard-no-value-kept", "guard.yml", "guard settings refused", jsonmend_guard_mode="observe", guard_value_chars=0),
]


# --- what "nothing changed" means -------------------------------------------------------------
def database_state(mariadb, database):
    """The server's databases, the test database's tables and an EXTENDED checksum of each."""
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        databases = sorted(row[0] for row in cur.fetchall())
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name", (database,))
        tables = [row[0] for row in cur.fetchall()]
        cur.execute("CHECKSUM TABLE %s EXTENDED" % ", ".join("`%s`.`%s`" % (database, t) for t in tables))
        checksums = dict(cur.fetchall())
    return dict(databases=databases, tables=tables, checksums=checksums)


def tree_hash(*roots):
    """sha256 over every path and file content under `roots` (logs and byte code aside: the
    running application writes them, not the playbooks)."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if "__pycache__" in path.parts or path.suffix in (".log", ".sock", ".pid"):
                continue
            digest.update(str(path).encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def app_state(stack):
    """The checkout (git objects, refs and HEAD included), the flag directory, the running process."""
    return dict(tree=tree_hash(stack.app_dir, stack.www), head=stack.head(), pid=stack.pid())


# --- fixtures: one database, one stack, one set of backups for the whole catalogue --------------
# stack: tests/integration/conftest.py, on the app_db below.
@pytest.fixture(scope="module")
def app_db(app_db, mariadb):
    """Overrides conftest.py's app_db (an empty table): the catalogue needs rows to refuse to touch,
    seeded once, before the stack migrates, and never reseeded (nothing may change them)."""
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("USE `%s`" % app_db)
        seed.seed(cur, 300, corrupt_percent=0, null_percent=5)
        bad = [(7 + i % 5, "quiz_answer_submitted", CORRUPT_VALUES[i % len(CORRUPT_VALUES)], "2026-11-%02d 12:00:00" % (1 + i % 20)) for i in range(CORRUPT)]
        seed.insert_rows(cur, bad)
    return app_db


def take_backup(mariadb, database, backup_dir, tmp, scope):
    args = dict(mariadb.login_params(database), backup_dir=str(backup_dir), scope=scope)
    rc, result, err = r.finish(r.spawn("db_backup", args, tmp, name="backup-" + scope))
    assert rc == 0 and result["manifest"]["verified"], err[-2000:]
    return result["manifest"]


def alter_dump(path):
    """Change one value inside a gzipped dump and write it back as valid gzip: an altered backup."""
    text = gzip.decompress(path.read_bytes()).decode()
    assert "quiz_answer_submitted" in text
    path.write_bytes(gzip.compress(text.replace("quiz_answer_submitted", "quiz_answer_submitteD", 1).encode()))


@pytest.fixture(scope="module")
def backups(mariadb, app_db, stack, tmp_path_factory):
    """A verified table backup and a verified database backup; a copy of both whose dumps were altered."""
    base = tmp_path_factory.mktemp("backups")
    good, tampered = base / "good", base / "tampered"
    good.mkdir()
    table = take_backup(mariadb, app_db, good, base, "table")
    time.sleep(1.1)  # ids carry the second
    database = take_backup(mariadb, app_db, good, base, "database")
    shutil.copytree(good, tampered)
    for manifest in (table, database):
        alter_dump(tampered / Path(manifest["path"]).name)
    not_a_dir = base / "not-a-directory"
    not_a_dir.write_text("a file where the backup directory should be\n")
    return SimpleNamespace(base=base, good=good, tampered=tampered, table=table, database=database, not_a_dir=not_a_dir)


def fill(value, names):
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def catalogue(request, mariadb, app_db, stack, backups, tmp_path_factory):
    """Run every selected case (-k works), two at a time; each with the state of everything before and after it."""
    base = tmp_path_factory.mktemp("catalogue")
    names = dict(
        backup_id=backups.table["id"],
        database_backup_id=backups.database["id"],
        tampered_dir=str(backups.tampered),
        not_a_dir=str(backups.not_a_dir),
        www=str(stack.www),
    )

    def state():
        return dict(database=database_state(mariadb, app_db), app=app_state(stack), backups=tree_hash(backups.base))

    def run(param):
        case_id = param.id
        playbook, variables, message = param.values
        work = base / case_id
        work.mkdir()
        values = db_vars(mariadb, app_db, jsonmend_report_dir=str(work / "reports"), **stack.ansible_vars())
        values.update(
            backup_dir=str(backups.good),
            backup_create_dir=True,
            cleanup_control_dir=str(base / "control"),
            jsonmend_confirm="yes",  # a missing check must not hide behind a prompt
        )
        values.update(fill(variables, names))
        before = state()
        started = time.monotonic()
        result = run_playbook(playbook, values, work, stdin=subprocess.DEVNULL)
        seconds = time.monotonic() - started
        (work / "output.txt").write_text(result.stdout + result.stderr)  # for a human reading a failure
        return case_id, SimpleNamespace(result=result, before=before, after=state(), seconds=seconds, reports=work / "reports")

    # Other files have a test of the same name: count only this module's cases.
    selected = {
        item.callspec.id
        for item in request.session.items
        if item.originalname == "test_bad_input_is_refused_before_any_change" and item.module is request.module
    }
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = dict(pool.map(run, [param for param in CATALOGUE if param.id in selected]))
    outcomes["_total_seconds"] = time.monotonic() - started
    return outcomes


def test_catalogue_is_large_and_covers_every_playbook():
    playbooks = {p.values[0] for p in CATALOGUE}
    assert len(CATALOGUE) >= 25
    assert playbooks == {p.name for p in (Path(__file__).resolve().parents[2] / "playbooks").glob("*.yml")} - {"maintenance.yml"}


@pytest.mark.parametrize(("playbook", "variables", "message"), CATALOGUE)
def test_bad_input_is_refused_before_any_change(request, catalogue, figures, playbook, variables, message):
    outcome = catalogue[request.node.callspec.id]
    out = outcome.result.stdout + outcome.result.stderr
    flat = " ".join(out.split())
    clean = outcome.result.returncode != 0 and " ".join(message.split()) in flat and outcome.after == outcome.before
    figures(trials=1, failures=int(not clean), playbook=playbook, seconds=round(outcome.seconds, 1))
    assert outcome.result.returncode != 0, out[-3000:]
    assert " ".join(message.split()) in flat, out[-3000:]
    assert TOOL_PASSWORD not in out
    assert outcome.after == outcome.before
    # A refused run writes at most its own record, and no password into it.
    written = [p for p in outcome.reports.rglob("*") if p.is_file()] if outcome.reports.exists() else []
    assert {p.name for p in written} <= REPORT_FILES, written
    assert not [p for p in written if TOOL_PASSWORD in p.read_text(errors="replace")]


def test_the_catalogue_ran_in_parallel(request, catalogue, figures):
    # Other files have a test of the same name: count only this module's cases.
    selected = {
        item.callspec.id
        for item in request.session.items
        if item.originalname == "test_bad_input_is_refused_before_any_change" and item.module is request.module
    }
    outcomes = {key: o for key, o in catalogue.items() if key != "_total_seconds"}
    assert set(outcomes) == selected  # every selected case ran, each once
    seconds = [o.seconds for o in outcomes.values()]
    if len(seconds) >= 2:
        # Two at a time: the wall time stays well under the playbooks' own sum.
        assert catalogue["_total_seconds"] < 0.9 * sum(seconds), (catalogue["_total_seconds"], sum(seconds))
    figures(trials=len(seconds), wall_seconds=round(catalogue["_total_seconds"], 1), playbook_seconds=round(sum(seconds), 1))
    print(
        "bad inputs: %d cases, %.0fs wall, %.0fs of playbooks, slowest %.0fs"
        % (len(seconds), catalogue["_total_seconds"], sum(seconds), max(seconds, default=0))
    )


def test_the_stack_still_serves_the_release_it_served(stack, catalogue):
    assert stack.head() == stack.shas["v1"]
    assert stack.health()[0] == 200 and not stack.flag.exists()
    assert git("status", "--porcelain", cwd=stack.app_dir) == ""
