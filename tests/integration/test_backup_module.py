# The backup modules against the session's real MariaDB: round trip, damaged dumps, invalid
# JSON, consistency under concurrent writes, secrets, bad input and check mode.
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import db_backup
import db_backup_catalog
import db_backup_verify
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup import backups, clitools, manifests, verification
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.db import clock
from ansible.module_utils.jsonmend.db.connection import connect
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support.processes import proc_snapshot
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD

# Backups, restores, retention and records carry times: make clock runs these under faketime.
pytestmark = pytest.mark.clock

TABLE = "analytics_activityevent"
SPECIAL_ROWS = [
    (1, "quiz_completed", '{"ключ": "значение ✓", "emoji": "🙂"}', "2026-11-01 10:00:00.123456"),
    (2, "quiz_completed", '{"quote": "it\'s \\"q\\"", "backslash": "a\\\\b", "nl": "x\\ny"}', "2026-11-01 10:00:01"),
    (3, "content_viewed", None, "2026-11-01 10:00:02"),
    (4, "content_viewed", "not json at all; DROP TABLE x; --", "2026-11-01 10:00:03"),
    (5, "content_viewed", "", "2026-11-01 10:00:04"),
    (6, "quiz_answer_submitted", "3.5", "2026-11-01 10:00:05"),
    (7, "quiz_answer_submitted", json.dumps({"blob": "x" * 300000}), "2026-11-01 10:00:06"),
    (8, "login", "NULL", "2026-11-01 10:00:07"),
    (9, "login", "-- Dump completed on 2026-01-01", "2026-11-01 10:00:08"),
]


def args_for(mariadb, database, backup_dir, **extra):
    args = mariadb.login_params(database)
    args.update(backup_dir=str(backup_dir), table=TABLE)
    args.update(extra)
    return args


def db_params(mariadb, database):
    return dict(mariadb.login_params(database), dialect="auto")


def checksum_of(mariadb, database, table=TABLE):
    db = connect(db_params(mariadb, database))
    try:
        return table_checksum(db, table)
    finally:
        db.close()


def count_invalid(cur, table=TABLE):
    cur.execute("SELECT COUNT(*) FROM `%s` WHERE metadata IS NOT NULL AND NOT JSON_VALID(metadata)" % table)
    return cur.fetchone()[0]


def scratch_schemas(cur):
    cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'jmv\\_%'")
    return [r[0] for r in cur.fetchall()]


def binlog_position(cur):
    cur.execute("SHOW MASTER STATUS")
    return cur.fetchone()[:2]


@pytest.fixture
def events(admin_cursor):
    """Django's table (CHECK (json_valid)) holding every kind of value, invalid text included."""
    seed.create_table(admin_cursor, check=True)
    seed.insert_rows(admin_cursor, [(100 + i, e, m, t) for i, e, m, t in SPECIAL_ROWS])
    seed.seed(admin_cursor, 3000, corrupt_percent=5, invalid=True)
    assert count_invalid(admin_cursor) > 0
    return admin_cursor


@pytest.fixture
def backup_dir(tmp_path):
    path = tmp_path / "backups"
    path.mkdir(mode=0o700)
    return path


def files(path):
    return sorted(p.name for p in Path(path).iterdir())


def test_round_trip_restores_an_identical_table_with_invalid_json(mariadb, database, events, backup_dir, module_runner):
    before = checksum_of(mariadb, database)
    events.execute("CHECKSUM TABLE %s EXTENDED" % TABLE)
    server_checksum = events.fetchone()[1]
    invalid = count_invalid(events)

    result = module_runner(db_backup, args_for(mariadb, database, backup_dir))
    assert not result.failed, result.get("msg")
    m = result["manifest"]
    assert m["verified"] is True and m["verification"]["ok"] and m["verification"]["scratch_dropped"]
    assert m["rows"][TABLE] == before["rows"] and m["checksum"][TABLE] == before["checksum"]
    assert m["scope"] == "table" and m["tables"] == [TABLE] and m["id"].startswith("backup_%s_" % TABLE)
    assert m["dump"]["sandbox_mode"] and m["binlog"]["enabled"] and m["binlog"]["gtid"]
    assert m["keys"][TABLE]["column"] == "id" and m["server"]["flavour"] == "mariadb"
    assert files(backup_dir) == [m["id"] + ".digests.gz", m["id"] + ".manifest.json", m["id"] + ".sql.gz"]
    for name in files(backup_dir):
        assert (backup_dir / name).stat().st_mode & 0o777 == 0o600
    assert json.loads((backup_dir / (m["id"] + ".manifest.json")).read_text())["verified"] is True
    assert not scratch_schemas(events)

    # Damage the table: rows deleted, changed, and added after the backup.
    events.execute("SET SESSION check_constraint_checks = 0")
    events.execute("DELETE FROM %s WHERE id IN (100, 101, 150)" % TABLE)
    events.execute("UPDATE %s SET metadata = '{}' WHERE id BETWEEN 200 AND 210" % TABLE)
    seed.insert_rows(events, [(1, "login", "{}", "2001-01-01")] * 3)
    damaged = checksum_of(mariadb, database)

    restored = module_runner(db_restore, args_for(mariadb, database, backup_dir))
    assert not restored.failed, restored.get("msg")
    assert restored["backup_id"] == m["id"]
    counts = [restored["impact"][name] for name in ("rows_inserted_since", "rows_changed_since", "rows_deleted_since")]
    assert counts == [3, 11, 3] and restored["impact"]["exact"]
    assert restored["after"][TABLE]["ok"] and restored["before"][TABLE]["rows"] == damaged["rows"]
    assert checksum_of(mariadb, database) == before
    events.execute("CHECKSUM TABLE %s EXTENDED" % TABLE)
    assert events.fetchone()[1] == server_checksum  # the server's own checksum agrees
    assert count_invalid(events) == invalid  # every invalid row came back
    events.execute("SHOW CREATE TABLE %s" % TABLE)
    assert "json_valid" in events.fetchone()[1]  # with its CHECK constraint
    safety = manifests.read_manifest(restored["safety_backup"]["manifest_path"])
    assert safety["rows"][TABLE] == damaged["rows"] and safety["checksum"][TABLE] == damaged["checksum"]
    assert safety["id"].startswith("backup_pre_restore_%s_" % TABLE)


def damage(path, how):
    data = Path(path).read_bytes()
    if how == "truncated":
        Path(path).write_bytes(data[: len(data) // 2])
    else:
        middle = len(data) // 2
        Path(path).write_bytes(data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :])


def drop_one_row(sql):
    """Remove the second row of the first multi-row INSERT (rows are one per line, ending in '),')."""
    start = sql.index(b"VALUES\n(") + len(b"VALUES\n")
    second = sql.index(b"),\n", start) + 3
    end = sql.index(b"),\n", second) + 3
    return sql[:second] + sql[end:]


def rewrite_sql(manifest, transform):
    """Change the SQL inside the dump and make the manifest's sha256 agree: only the content checks remain."""
    sql = gzip.decompress(Path(manifest["path"]).read_bytes())
    changed = transform(sql)
    assert changed != sql
    Path(manifest["path"]).write_bytes(gzip.compress(changed))
    doc = json.loads(Path(manifest["manifest_path"]).read_text())
    doc["sha256"] = clitools.file_sha256(manifest["path"])
    Path(manifest["manifest_path"]).write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "does not match its manifest: sha256"),
        ("one byte", "does not match its manifest: sha256"),
        ("sql byte, sha256 updated", "content differs"),
        ("sql footer cut, sha256 updated", "does not end with its completion line"),
        ("sql row cut, sha256 updated", "rows expected"),
    ],
)
def test_damaged_dumps_fail_verification_and_restore(mariadb, database, events, backup_dir, module_runner, how, message):
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir))["manifest"]
    original = Path(m["path"]).read_bytes()
    if how in ("truncated", "one byte"):
        damage(m["path"], how)
    elif how.startswith("sql byte"):
        rewrite_sql(m, lambda sql: sql.replace(b"option_a", b"option_b", 1))
    elif how.startswith("sql footer"):
        rewrite_sql(m, lambda sql: sql[: sql.rindex(b"-- Dump completed")])
    else:
        rewrite_sql(m, drop_one_row)

    verify_args = dict(db_params(mariadb, database), backup_dir=str(backup_dir), backup_id=m["id"])
    result = module_runner(db_backup_verify, verify_args)
    assert result.failed and message in result["msg"], result.get("msg")
    assert ("verification of backup %s failed" % m["id"]) in result["msg"]
    doc = manifests.read_manifest(m["manifest_path"])
    assert doc["verified"] is False and message in doc["verification"]["error"]
    assert not scratch_schemas(events)

    # A restore refuses it before touching anything.
    before = checksum_of(mariadb, database)
    refused = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=m["id"], allow_unverified=how in ("truncated", "one byte")))
    assert refused.failed
    assert checksum_of(mariadb, database) == before
    assert not [f for f in files(backup_dir) if "pre_restore" in f]

    # The untouched file verifies again.
    if how in ("truncated", "one byte"):
        Path(m["path"]).write_bytes(original)
        assert module_runner(db_backup_verify, verify_args)["manifest"]["verified"] is True


def test_writes_during_the_backup_do_not_break_consistency(mariadb, database, admin_cursor, backup_dir, module_runner):
    """Writers insert and update throughout; the manifest (our snapshot) must equal the dump (the tool's)."""
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 25000, corrupt_percent=1)
    stop = threading.Event()
    written = []

    def writer():
        conn = mariadb.connect(database)
        cur = conn.cursor()
        while not stop.is_set():
            cur.execute("INSERT INTO %s (user_id, event_type, metadata, created_at) VALUES (1, 'login', '{}', NOW())" % TABLE)
            cur.execute("UPDATE %s SET metadata = JSON_OBJECT('n', %%s) WHERE id = 1 + %%s MOD 25000" % TABLE, (len(written), len(written) * 7919))
            written.append(1)
        conn.close()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        for _ in range(2):
            result = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="run%d" % _))
            assert not result.failed, result.get("msg")
            assert result["manifest"]["verified"] is True
            assert result["manifest"]["snapshot"]["writes_paused_ms"] >= 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(written) > 10  # the writers really ran during the backups


def test_password_is_never_in_the_process_list_or_output(mariadb, database, admin_cursor, backup_dir, module_runner, tmp_path, monkeypatch):
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 30000, corrupt_percent=1)
    # A private temp dir: other test workers create jsonmend- temp dirs of their own meanwhile.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    temp_before = set(os.listdir(tempfile.gettempdir()))
    params = dict(
        db_params(mariadb, database),
        table=TABLE,
        primary_key="id",
        backup_dir=str(backup_dir),
        scope="table",
        verify=True,
        compress_level=1,
        space_factor=1.0,
        lock_wait_timeout=5,
        verify_skip_binlog=True,
    )
    outcome = {}

    def run():
        try:
            manifest, _plan = backups.take_backup(params)
            outcome["manifest"] = verification.verify_backup(params, manifest)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    tools_seen, leaks = set(), []
    needle = TOOL_PASSWORD.encode()
    while thread.is_alive():
        for pid, argv, env in proc_snapshot():
            name = os.path.basename(argv.split(b"\0", 1)[0]).decode(errors="replace")
            if name in ("mariadb-dump", "mariadb", "mysqldump", "mysql"):
                tools_seen.add(name)
            if needle in argv or needle in env:
                if pid != str(os.getpid()):
                    leaks.append((name, argv))
    thread.join()
    assert "error" not in outcome, outcome.get("error")
    assert not leaks, leaks
    assert {"mariadb-dump", "mariadb"} <= tools_seen  # sampled while the dump and the scratch restore ran
    assert needle not in json.dumps(outcome["manifest"]).encode()
    assert not [n for n in set(os.listdir(tempfile.gettempdir())) - temp_before if n.startswith("jsonmend-")]  # option files gone

    result = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="again"))
    assert TOOL_PASSWORD not in json.dumps(result)
    for path in backup_dir.iterdir():
        assert needle not in (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes())


def make_unwritable(path):
    if os.geteuid() != 0:
        path.chmod(0o500)
        return lambda: path.chmod(0o700)
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode:
        pytest.skip("running as root without chattr +i: cannot make a directory unwritable")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist: create it (mode 0700)"),
        ("a file", "is not a directory"),
        ("unwritable", "is not writable by the user running the backup"),
        ("relative", "must be an absolute path"),
        ("no space", "not enough free space in"),
        ("bad scope", "value of scope must be one of"),
        ("no table", "does not exist (or the user cannot see it)"),
        ("bad table name", "is not a valid identifier"),
    ],
)
def test_bad_input_fails_clearly_and_writes_nothing(mariadb, database, events, tmp_path, module_runner, case, message):
    target = tmp_path / "backups"
    extra, undo = {}, None
    if case == "a file":
        target.write_text("")
    elif case == "unwritable":
        target.mkdir()
        undo = make_unwritable(target)
    elif case == "relative":
        target = Path("relative/backups")
    elif case != "missing":
        target.mkdir()
    extra = {
        "no space": dict(space_factor=1e12),
        "bad scope": dict(scope="everything"),
        "no table": dict(table="no_such_table"),
        "bad table name": dict(table="x; DROP TABLE y"),
    }.get(case, {})
    position = binlog_position(events)
    try:
        result = module_runner(db_backup, args_for(mariadb, database, target, **extra))
    finally:
        if undo:
            undo()
    assert result.failed and message in result["msg"], result["msg"]
    assert TOOL_PASSWORD not in json.dumps(result)
    if target.is_dir():
        assert files(target) == []
    assert not scratch_schemas(events) and binlog_position(events) == position


def test_check_mode_creates_nothing_and_changes_nothing(mariadb, database, events, backup_dir, module_runner):
    before = checksum_of(mariadb, database)
    position = binlog_position(events)
    result = module_runner(db_backup, args_for(mariadb, database, backup_dir), check_mode=True)
    assert not result.failed and result["changed"] and "manifest" not in result
    assert result["plan"]["path"].startswith(str(backup_dir)) and result["plan"]["tables"] == [TABLE]
    assert result["plan"]["space"]["free_bytes"] > 0
    assert files(backup_dir) == []
    assert binlog_position(events) == position and checksum_of(mariadb, database) == before
    assert not scratch_schemas(events)

    m = module_runner(db_backup, args_for(mariadb, database, backup_dir, verify=False))["manifest"]
    assert m["verified"] is False
    listing = files(backup_dir)
    for module, args in (
        (db_backup_verify, dict(db_params(mariadb, database), backup_dir=str(backup_dir), backup_id=m["id"])),
        (db_restore, args_for(mariadb, database, backup_dir, backup_id=m["id"], allow_unverified=True)),
        (db_backup_catalog, dict(backup_dir=str(backup_dir), keep=1)),
    ):
        checked = module_runner(module, args, check_mode=True)
        assert not checked.failed, checked.get("msg")
    assert files(backup_dir) == listing and binlog_position(events) == position
    assert manifests.read_manifest(m["manifest_path"])["verified"] is False


def wrapper(tmp_path, body):
    script = tmp_path / "fake-dump"
    real = shutil.which("mariadb-dump")
    script.write_text('#!/bin/sh\nif [ "$1" = --version ]; then exec %s --version; fi\n%s\n' % (real, body))
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('%s "$@"\nexit 3' % shutil.which("mariadb-dump"), "the dump tool exited with status 3"),
        ('%s "$@" | head -c 2000\nexit 0' % shutil.which("mariadb-dump"), "does not end with its completion line"),
        pytest.param("echo '-- MariaDB dump'\nexec sleep 30", "did not open its snapshot within 2s", marks=pytest.mark.wallclock),
    ],
    ids=["exit status", "no footer", "hangs"],
)
def test_a_failed_dump_never_looks_like_a_backup(mariadb, database, events, backup_dir, tmp_path, module_runner, body, message):
    result = module_runner(db_backup, args_for(mariadb, database, backup_dir, dump_binary=wrapper(tmp_path, body), snapshot_timeout=2))
    assert result.failed and message in result["msg"], result["msg"]
    assert files(backup_dir) == []
    # Writes were paused only until the failure: they go through now.
    events.execute("SET SESSION lock_wait_timeout = 2")
    events.execute("UPDATE %s SET event_type = 'login' WHERE id = 100" % TABLE)


def test_database_backup_and_restore_with_views_triggers_routines_events(mariadb, database, events, backup_dir, module_runner):
    events.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(64) CHARACTER SET latin1, raw VARBINARY(16))")
    events.execute("INSERT INTO audit (note, raw) VALUES ('café', 0x00ff10), (NULL, NULL)")
    events.execute("CREATE VIEW recent AS SELECT id, event_type FROM %s WHERE id > 100" % TABLE)
    events.execute("CREATE TRIGGER audit_upper BEFORE INSERT ON audit FOR EACH ROW SET NEW.note = UPPER(NEW.note)")
    events.execute("CREATE PROCEDURE count_events() SELECT COUNT(*) FROM %s" % TABLE)
    events.execute("CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS CURRENT_TIMESTAMP + INTERVAL 1 YEAR DO DELETE FROM audit")
    before = dict((t, checksum_of(mariadb, database, t)) for t in (TABLE, "audit"))

    m = module_runner(db_backup, args_for(mariadb, database, backup_dir, scope="database"))["manifest"]
    assert m["verified"] and m["id"].startswith("backup_2") and sorted(m["tables"]) == ["analytics_activityevent", "audit"]
    assert m["objects"]["views"] == ["recent"] and m["objects"]["routines"] == 1 and m["objects"]["events"] == 1
    assert m["objects"]["triggers"] == {"audit": ["audit_upper"]}

    events.execute("DROP TABLE audit")
    events.execute("DROP VIEW recent")
    events.execute("DROP PROCEDURE count_events")
    events.execute("DELETE FROM %s WHERE id < 200" % TABLE)
    events.execute("CREATE TABLE created_later (id INT PRIMARY KEY)")

    wrong_scope = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=m["id"]))
    assert wrong_scope.failed and "is a database backup" in wrong_scope["msg"]
    result = module_runner(db_restore, args_for(mariadb, database, backup_dir, scope="database", safety_backup=False))
    assert not result.failed, result.get("msg")
    assert result["tables_not_in_backup"] == ["created_later"] and result["safety_backup"] is None
    for t in (TABLE, "audit"):
        assert checksum_of(mariadb, database, t) == before[t]
    events.execute("SELECT COUNT(*) FROM recent")
    events.execute("CALL count_events()")
    events.execute("SELECT STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = DATABASE()")
    assert events.fetchall() == (("ENABLED",),)  # live restores keep events as they were


def test_restore_refuses_what_it_cannot_prove(mariadb, database, events, backup_dir, module_runner):
    before = checksum_of(mariadb, database)
    none = module_runner(db_restore, args_for(mariadb, database, backup_dir))
    assert none.failed and "no verified backup scope table of analytics_activityevent" in none["msg"]
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir, verify=False))["manifest"]
    unverified = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=m["id"]))
    assert unverified.failed and "is not verified (it was never verified)" in unverified["msg"]
    unknown = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id="backup_x_20200101_000000"))
    assert unknown.failed and "does not exist" in unknown["msg"]
    other_table = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=m["id"], table="audit"))
    assert other_table.failed and "not audit" in other_table["msg"]
    assert checksum_of(mariadb, database) == before and files(backup_dir) == [m["id"] + ".digests.gz", m["id"] + ".manifest.json", m["id"] + ".sql.gz"]


def test_refuses_to_overwrite_an_existing_backup(mariadb, database, events, backup_dir):
    now = clock.utc_now()
    ident = manifests.backup_id(TABLE, now)
    (backup_dir / (ident + ".sql.gz")).write_bytes(b"precious")
    db = connect(db_params(mariadb, database))
    try:
        params = dict(database=database, scope="table", table=TABLE, backup_dir=str(backup_dir), compress_level=1, space_factor=1.0, label=None, verify=False)
        with pytest.raises(JsonmendError, match="refusing to overwrite"):
            backups.plan_backup(db, params, now)
    finally:
        db.close()
    assert (backup_dir / (ident + ".sql.gz")).read_bytes() == b"precious"


def test_catalog_lists_and_keeps_the_newest_verified(mariadb, database, events, backup_dir, module_runner):
    made = []
    for label in ("a", "b", "c"):  # labels keep the ids apart within one second
        made.append(module_runner(db_backup, args_for(mariadb, database, backup_dir, label=label))["manifest"])
    unverified = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="d", verify=False))["manifest"]
    listed = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, table=TABLE))
    assert [b["id"] for b in listed["backups"]] == [unverified["id"]] + [m["id"] for m in reversed(made)]
    assert listed["latest_verified"]["id"] == made[-1]["id"] and listed["removed"] == []
    pruned = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, keep=2))
    assert pruned["changed"] and pruned["removed"] == [made[0]["id"]]
    assert not (backup_dir / (made[0]["id"] + ".sql.gz")).exists()
    assert (backup_dir / (unverified["id"] + ".sql.gz")).exists()


def test_a_long_write_transaction_makes_the_backup_wait_then_refuse(mariadb, database, events, backup_dir, module_runner):
    """Writes pause only once open write transactions end; a stuck one is named, not waited on forever."""
    blocker = mariadb.connect(database, autocommit=False)
    cur = blocker.cursor()
    cur.execute("UPDATE %s SET event_type = 'login' WHERE id = 100" % TABLE)  # open, uncommitted
    try:
        result = module_runner(db_backup, args_for(mariadb, database, backup_dir, lock_wait_timeout=1, lock_retries=2))
    finally:
        blocker.rollback()
        blocker.close()
    assert result.failed and "could not pause writes to %s.%s" % (database, TABLE) in result["msg"]
    assert "2 attempts of 1s" in result["msg"] and "Nothing was written" in result["msg"]
    assert files(backup_dir) == []


def test_a_non_innodb_table_is_dumped_under_the_lock(mariadb, database, admin_cursor, backup_dir, module_runner):
    admin_cursor.execute("CREATE TABLE legacy (id INT PRIMARY KEY, note TEXT) ENGINE=Aria")
    admin_cursor.execute("INSERT INTO legacy VALUES (1, 'a'), (2, NULL)")
    result = module_runner(db_backup, args_for(mariadb, database, backup_dir, table="legacy"))
    assert not result.failed, result.get("msg")
    assert result["manifest"]["verified"] and result["manifest"]["objects"]["non_transactional"] == ["legacy"]
    assert "for the whole dump" in result["manifest"]["snapshot"]["method"]
    assert any("not InnoDB" in w for w in result["plan"]["warnings"])


def test_catalog_resolves_a_backup_for_other_phases_and_checks_its_file(mariadb, database, events, backup_dir, module_runner):
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir))["manifest"]
    found = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, table=TABLE, backup_id="latest", check_file=True))
    assert found["manifest"]["id"] == m["id"] and found["manifest"]["verified"] and found["manifest"]["file_checked"]
    damage(m["path"], "one byte")
    bad = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), backup_id=m["id"], check_file=True))
    assert bad.failed and "does not match its manifest: sha256" in bad["msg"]


def test_create_dir_creates_a_private_directory_and_check_mode_does_not(mariadb, database, events, tmp_path, module_runner):
    target = tmp_path / "mount" / "jsonmend"
    checked = module_runner(db_backup, args_for(mariadb, database, target, create_dir=True), check_mode=True)
    assert not checked.failed and any("is created with mode 0700" in w for w in checked["plan"]["warnings"])
    assert not (tmp_path / "mount").exists()
    result = module_runner(db_backup, args_for(mariadb, database, target, create_dir=True))
    assert not result.failed and result["manifest"]["verified"]
    assert target.stat().st_mode & 0o777 == 0o700


def test_database_restore_onto_a_server_that_lost_the_database(mariadb, database, events, backup_dir, module_runner):
    """The emergency case: the database is gone (a rebuilt server); the restore creates it as it was."""
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir, scope="database"))["manifest"]
    before = checksum_of(mariadb, database)
    events.execute("DROP DATABASE `%s`" % database)
    args = args_for(mariadb, database, backup_dir, scope="database")
    planned = module_runner(db_restore, args, check_mode=True)
    assert not planned.failed and planned["created_database"] and planned["backup_id"] == m["id"]
    events.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
    assert events.fetchone()[0] == 0
    restored = module_runner(db_restore, args)
    assert not restored.failed, restored.get("msg")
    assert restored["created_database"] and restored["safety_backup"] is None
    assert checksum_of(mariadb, database) == before
    events.execute("SELECT DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
    assert events.fetchone()[0] == m["database_charset"]["collation"]


def test_least_privileged_user_backs_up_and_is_told_what_it_lacks(mariadb, database, events, backup_dir, module_runner):
    """The privileges docs/BACKUP.md lists are enough; a missing one is named before anything is written."""
    user, password = "jm_backup", "Bk-pw-4Zr8"
    hosts = ("localhost", "127.0.0.1", "%")
    with mariadb.admin() as conn, conn.cursor() as cur:
        for host in hosts:
            cur.execute("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, password))
            cur.execute("GRANT SELECT, LOCK TABLES, SHOW VIEW, TRIGGER ON `%s`.* TO %%s@%%s" % database, (user, host))
            cur.execute(
                "GRANT SELECT, INSERT, CREATE, DROP, ALTER, INDEX, REFERENCES, LOCK TABLES, CREATE VIEW, TRIGGER ON `jmv\\_%%`.* TO %s@%s",
                (user, host),
            )
    try:
        args = args_for(mariadb, database, backup_dir, login_user=user, login_password=password)
        refused = module_runner(db_backup, args)
        assert refused.failed and "needs the BINLOG ADMIN or SUPER privilege" in refused["msg"]
        assert "backup_verify_skip_binlog: false" in refused["msg"] and files(backup_dir) == []
        result = module_runner(db_backup, dict(args, verify_skip_binlog=False))
        assert not result.failed, result.get("msg")
        assert result["manifest"]["verified"] and result["manifest"]["binlog"]["enabled"]
        assert password not in json.dumps(result)
    finally:
        with mariadb.admin() as conn, conn.cursor() as cur:
            for host in hosts:
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
