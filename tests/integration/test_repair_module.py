# json_type_repair against the session's real MariaDB: every policy on every JSON kind, exact
# quarantine and undo (CHECKSUM TABLE), check and diff mode, idempotence, resume, stop and
# pause files, throttling, retries on row locks, preconditions and refusals.
import json
import re
import threading
import time

import json_type_repair
import pymysql
import pytest
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support import repair as r
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD

DOUBLE = json.dumps(json.dumps({"quiz": {"score": 3}, "ü": "✓"}))
# (stored text, class the scan gives it); SQL NULL and objects are healthy and never touched.
KINDS = [
    ('{"a": 1}', "OBJECT"),
    ('  {"k": "väl"}  ', "OBJECT"),
    (None, "SQL NULL"),
    ('[1, 2, {"k": "v"}]', "ARRAY"),
    ("[]", "ARRAY"),
    ("42", "INTEGER"),
    ("-5", "INTEGER"),
    ("18446744073709551615", "INTEGER"),
    ("3.14", "DOUBLE"),
    ('"hello ✓"', "STRING"),
    ('"[1, 2]"', "STRING"),
    (json.dumps(json.dumps({"a": 1})), "STRING+OBJECT"),
    (DOUBLE, "STRING+OBJECT"),
    ("true", "BOOLEAN"),
    ("false", "BOOLEAN"),
    ("null", "NULL"),
    ("not json", "INVALID"),
    ('{"a": 1', "INVALID"),
    ("", "INVALID"),
]
ALL_KINDS = sorted(set(cls for _v, cls in KINDS if cls not in ("OBJECT", "SQL NULL")))


def wait_for(condition, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def lines_of(path):
    return path.read_text().splitlines() if path.exists() else []


def expected_value(original, cls, action, key="value"):
    """The repaired value as Python data (None = SQL NULL), or the original text for skip."""
    if action == "skip":
        return ("raw", original)
    if action == "null":
        return None
    if action == "unwrap":
        return json.loads(json.loads(original))
    if cls == "INVALID":
        return {key: original}
    return {key: json.loads(original)}


def policy_for(action):
    """Give every kind the action (unwrap only applies to double-encoded objects)."""
    if action == "unwrap":
        return dict(policy={"STRING+OBJECT": "unwrap"}, default_action="skip")
    return dict(policy=dict((k, action) for k in ALL_KINDS), default_action=action)


@pytest.mark.parametrize("check", [True, False], ids=["django-check-column", "plain-longtext"])
@pytest.mark.parametrize("action", ["unwrap", "wrap", "null", "skip"])
def test_each_policy_on_each_kind_and_undo_is_byte_identical(mariadb, database, admin_cursor, module_runner, check, action):
    r.fill(admin_cursor, [v for v, _c in KINDS], check=check)
    before_bytes = r.column_bytes(admin_cursor)
    before_sum = r.checksum(admin_cursor)
    result = module_runner(json_type_repair, r.module_args(mariadb, database, wrap_key="legacy", **policy_for(action)))
    assert not result.failed, result.get("msg")
    after = r.column_bytes(admin_cursor)
    kinds = r.classes(admin_cursor, database)
    q = r.quarantine(admin_cursor, result["run_id"])
    changed = 0
    for pk, (original, cls) in enumerate(KINDS, start=1):
        if cls in ("OBJECT", "SQL NULL"):
            assert after[pk] == before_bytes[pk], "healthy row %d touched" % pk
            assert pk not in q
            continue
        act = policy_for(action)["policy"].get(cls, policy_for(action)["default_action"])
        want = expected_value(original, cls, act, "legacy")
        if act == "skip":
            assert after[pk] == before_bytes[pk] and pk not in q
            continue
        changed += 1
        if want is None:
            assert after[pk] is None
        else:
            assert json.loads(after[pk].decode()) == want, (pk, cls, after[pk])
            assert kinds[pk] == "OBJECT", "row %d repaired to a %s" % (pk, kinds[pk])
        # The quarantine holds the exact bytes, the kind, the action and what was written.
        assert q[pk]["original"] == before_bytes[pk]
        assert q[pk]["type"] == cls and q[pk]["action"] == act
        assert q[pk]["new"] == after[pk]
    if action == "unwrap":
        # Unwrapping keeps the inner text exactly.
        assert after[12] == json.loads(KINDS[11][0]).encode()
    assert result["rows_changed"] == changed == len(q)
    assert result["changed"] is (changed > 0)
    assert sum(v for a, v in result["actions"].items() if a != "skip") == changed
    if action != "skip":
        assert r.checksum(admin_cursor) != before_sum
    undo = module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo"))
    if changed:
        assert not undo.failed, undo.get("msg")
        assert undo["restored"] == changed and undo["conflicts"] == 0 and undo["undo_of"] == result["run_id"]
    else:
        assert undo.failed and "nothing to undo" in undo["msg"]
    assert r.checksum(admin_cursor) == before_sum
    assert r.column_bytes(admin_cursor) == before_bytes


def test_check_mode_changes_nothing_and_reports_exact_counts(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, [v for v, _c in KINDS], check=False)
    before = r.checksum(admin_cursor)
    args = r.module_args(mariadb, database, policy={"INTEGER": "wrap", "INVALID": "skip"}, _ansible_diff=True, sample_limit=50)
    result = module_runner(json_type_repair, args, check_mode=True)
    assert not result.failed, result.get("msg")
    assert r.checksum(admin_cursor) == before
    admin_cursor.execute("SHOW TABLES LIKE '%%jsonmend%%'")
    assert admin_cursor.fetchall() == (), "check mode created a table"
    assert result["changed"] is True
    assert result["actions"] == {"unwrap": 2, "wrap": 3, "null": 8, "empty": 0, "skip": 3}
    pairs = dict((s["id"], s) for s in result["samples"])
    assert pairs[6]["before"] == "42" and json.loads(pairs[6]["after"]) == {"value": 42}
    assert pairs[12]["action"] == "unwrap" and json.loads(pairs[12]["after"]) == {"a": 1}
    assert pairs[4]["after"] is None
    assert len(result["diff"]) == len(result["samples"]) == 13
    assert any("SQL NULL" in d["after"] for d in result["diff"])
    # The real run does exactly what check mode announced.
    real = module_runner(json_type_repair, dict(args, _ansible_diff=False))
    assert real["actions"] == result["actions"]


def test_second_run_on_a_clean_table_changes_nothing(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 3000, corrupt_percent=3, invalid=True)
    first = module_runner(json_type_repair, r.module_args(mariadb, database, chunk_size=250))
    assert first["changed"] is True and first["rows_changed"] > 0 and first["chunks"] >= 2
    assert first["binlog"]["logged"] is True and "binary log" in first["binlog"]["message"]
    assert [e["type"] for e in first["preconditions"]["explain"]] == ["range", "range"]
    scan_after = r.classes(admin_cursor, database)
    assert set(scan_after.values()) <= {"OBJECT", "SQL NULL"}
    snapshot = r.checksum(admin_cursor)
    second = module_runner(json_type_repair, r.module_args(mariadb, database, chunk_size=250))
    assert second["changed"] is False and second["rows_changed"] == 0
    assert r.checksum(admin_cursor) == snapshot
    # A clean table gets no bookkeeping row either.
    admin_cursor.execute("SELECT COUNT(*) FROM `%s`" % r.RUNS)
    assert admin_cursor.fetchone()[0] == 1


def test_clean_table_creates_no_table(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ['{"a": 1}', None])
    result = module_runner(json_type_repair, r.module_args(mariadb, database))
    assert result["changed"] is False and not result.failed
    admin_cursor.execute("SHOW TABLES LIKE '%%jsonmend%%'")
    assert admin_cursor.fetchall() == ()


def test_undo_reports_conflicts_and_never_overwrites_newer_data(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ["1", "2", "3", "4", '"{\\"a\\": 5}"', "6"], check=False)
    original = r.column_bytes(admin_cursor)
    first = module_runner(json_type_repair, r.module_args(mariadb, database))
    assert first["rows_changed"] == 6
    # The application writes after the repair: two updates and a delete.
    admin_cursor.execute("""UPDATE analytics_activityevent SET metadata = '{"new": 1}' WHERE id = 1""")
    admin_cursor.execute("DELETE FROM analytics_activityevent WHERE id = 2")
    admin_cursor.execute("""UPDATE analytics_activityevent SET metadata = '{"a": 6}' WHERE id = 5""")
    # Row 3 is corrupted again and repaired by a second run: the first run may not undo it.
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '33' WHERE id = 3")
    second = module_runner(json_type_repair, r.module_args(mariadb, database))
    assert second["rows_changed"] == 1
    undo = module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo", run_id=first["run_id"], sample_limit=10))
    assert not undo.failed, undo.get("msg")
    assert undo["restored"] == 2 and undo["conflicts"] == 4
    reasons = dict((c["id"], c["reason"]) for c in undo["conflict_samples"])
    assert reasons == {
        1: "changed since the repair",
        2: "row deleted since the repair",
        3: "repaired again by a later run: undo that run first",
        5: "changed since the repair",
    }
    now = r.column_bytes(admin_cursor)
    assert now[1] == b'{"new": 1}' and 2 not in now and now[5] == b'{"a": 6}' and now[3] is None
    assert now[4] == original[4] and now[6] == original[6]
    # Undo is idempotent: nothing left to restore, the same conflicts reported again.
    again = module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo", run_id=first["run_id"]))
    assert again["changed"] is False and again["restored"] == 0 and again["conflicts"] == 4
    # Undoing the later run puts back what the application wrote in between ('33'), which the
    # first run never wrote: still a conflict for it, and the application's value stays.
    module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo", run_id=second["run_id"]))
    last = module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo", run_id=first["run_id"]))
    assert last["restored"] == 0 and last["conflicts"] == 4
    assert r.column_bytes(admin_cursor)[3] == b"33"


def test_undo_check_mode_reports_without_writing(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ["1", "2", "3"], check=False)
    run = module_runner(json_type_repair, r.module_args(mariadb, database))
    admin_cursor.execute("""UPDATE analytics_activityevent SET metadata = '{"x": 1}' WHERE id = 2""")
    snapshot = r.checksum(admin_cursor)
    preview = module_runner(json_type_repair, r.module_args(mariadb, database, mode="undo", _ansible_diff=True), check_mode=True)
    assert preview["restored"] == 2 and preview["conflicts"] == 1 and preview["changed"] is True
    assert preview["undo_of"] == run["run_id"] and len(preview["diff"]) == 2
    assert r.checksum(admin_cursor) == snapshot
    assert all(not v["undone"] for v in r.quarantine(admin_cursor).values())


def test_stop_file_stops_at_a_checkpoint_and_the_rerun_resumes(mariadb, database, admin_cursor, tmp_path):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 6000, corrupt_percent=5, invalid=True)
    original = r.column_bytes(admin_cursor)
    stop, progress = tmp_path / "stop", tmp_path / "progress.log"
    args = dict(chunk_size=200, chunk_time=0, chunk_sleep=0.05, stop_file=str(stop), progress_file=str(progress), progress_interval=0)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(r.execute(mariadb, database, **args)))
    worker.start()
    wait_for(lambda: len(lines_of(progress)) >= 4)
    stop.touch()
    worker.join(60)
    assert outcome["status"] == "stopped" and 0 < outcome["key_range"]["last"] < 6000
    with pytest.raises(JsonmendError, match="stop file"):
        r.execute(mariadb, database, **args)
    stop.unlink()
    rest = r.execute(mariadb, database, **args)
    assert rest["resumed"] is True and rest["run_id"] == outcome["run_id"] and rest["status"] == "finished"
    assert rest["key_range"]["start"] == 1 and rest["rows_changed"] == sum(1 for v in r.quarantine(admin_cursor).values())
    # Together the two parts repaired every corrupt row exactly once and kept every pre-image.
    q = r.quarantine(admin_cursor)
    for pk, value in original.items():
        if pk in q:
            assert q[pk]["original"] == value
    assert set(r.classes(admin_cursor, database).values()) <= {"OBJECT", "SQL NULL"}
    log = progress.read_text()
    assert "statistics" in log and re.search(r"status\s+: stopped", log) and "resumed after key" in log
    assert re.search(r"repair run=\S+ rows=\d+ +\d+\.\d% rate=\d+ rows/s eta=\S+ changed=\d+ chunk=200", log)


@pytest.mark.chaos  # the safety suite: the advisory lock / the throttle
def test_pause_file_holds_the_run_and_a_second_run_is_refused(mariadb, database, admin_cursor, tmp_path, module_runner):
    r.fill(admin_cursor, ["1", "2", '{"a": 1}'])
    pause, progress = tmp_path / "pause", tmp_path / "p.log"
    pause.touch()
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(r.execute(mariadb, database, pause_file=str(pause), progress_file=str(progress), throttle_interval=0.05))
    )
    worker.start()
    wait_for(lambda: "pause file" in "".join(lines_of(progress)))
    second = module_runner(json_type_repair, r.module_args(mariadb, database))
    assert second.failed
    assert "another jsonmend run is already working on %s.analytics_activityevent" % database in second["msg"]
    assert "nothing was changed" in second["msg"]
    assert r.column_bytes(admin_cursor)[1] == b"1", "the paused run changed a row"
    pause.unlink()
    worker.join(30)
    assert outcome["status"] == "finished" and outcome["rows_changed"] == 2
    assert outcome["throttle_waits"] == 1 and outcome["throttle_seconds"] > 0
    assert "throttled: pause file" in progress.read_text()


@pytest.mark.chaos  # the safety suite: the advisory lock / the throttle
def test_throttles_on_threads_running_and_replica_lag(mariadb, database, admin_cursor, tmp_path):
    r.fill(admin_cursor, ["1", "2", "3"])
    admin_cursor.execute("CREATE TABLE heartbeat (lag_seconds DOUBLE)")
    admin_cursor.execute("INSERT INTO heartbeat VALUES (30)")
    progress = tmp_path / "p.log"
    # The replica is simulated: the lag query runs against a table this test controls (no real
    # replica exists here), through the same code path a pt-heartbeat query would take.
    replica = dict(name="replica-sim", login_host="127.0.0.1", login_port=mariadb.port)
    sleepers = []

    def busy():
        conn = mariadb.admin()
        sleepers.append(conn)
        conn.cursor().execute("SELECT SLEEP(1.5)")

    threads = [threading.Thread(target=busy) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)

    def heal():
        time.sleep(2.5)
        conn = mariadb.admin(database)
        conn.cursor().execute("UPDATE heartbeat SET lag_seconds = 0.5")
        conn.close()

    healer = threading.Thread(target=heal)
    healer.start()
    result = r.execute(
        mariadb,
        database,
        max_threads_running=2,
        replicas=[replica],
        replica_lag_query="SELECT lag_seconds FROM %s.heartbeat" % database,
        max_replica_lag=2,
        throttle_interval=0.1,
        progress_file=str(progress),
    )
    for t in threads + [healer]:
        t.join()
    for conn in sleepers:
        conn.close()
    assert result["status"] == "finished" and result["rows_changed"] == 3
    assert result["throttle_waits"] == 1 and result["throttle_seconds"] >= 1.5
    log = progress.read_text()
    assert "throttled: Threads_running=" in log
    assert "throttled: replica replica-sim lags 30.0s > 2.0s" in log


def test_replica_that_is_not_a_replica_is_refused(mariadb, database, admin_cursor):
    r.fill(admin_cursor, ["1"])
    with pytest.raises(JsonmendError, match="is not a replica"):
        r.execute(mariadb, database, replicas=[dict(login_host="127.0.0.1", login_port=mariadb.port)])
    assert r.column_bytes(admin_cursor)[1] == b"1"


def test_row_lock_waits_are_retried(mariadb, database, admin_cursor):
    r.fill(admin_cursor, ["1", "2", "3"])
    holder = mariadb.admin(database, autocommit=False)
    cur = holder.cursor()
    cur.execute("SELECT * FROM analytics_activityevent WHERE id = 2 FOR UPDATE")
    release = threading.Timer(2.5, holder.commit)
    release.start()
    result = r.execute(mariadb, database, innodb_lock_wait_timeout=1)
    release.join()
    holder.close()
    assert result["retries"] >= 1 and result["rows_changed"] == 3


def test_resume_with_another_policy_is_refused_and_resume_false_abandons(mariadb, database, admin_cursor):
    r.fill(admin_cursor, ["1", "2", "3", "4"])
    first = r.execute(mariadb, database, chunk_size=1, chunk_time=0)
    # Pretend the run was killed after its first chunk.
    admin_cursor.execute("UPDATE `%s` SET status = 'running', last_key = '1'" % r.RUNS)
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '7' WHERE id = 3")
    with pytest.raises(JsonmendError, match="stopped unfinished with another policy"):
        r.execute(mariadb, database, policy={"INTEGER": "wrap"})
    fresh = r.execute(mariadb, database, policy={"INTEGER": "wrap"}, resume=False)
    assert fresh["run_id"] != first["run_id"] and fresh["rows_changed"] == 1
    admin_cursor.execute("SELECT run_id, status FROM `%s` ORDER BY started_at" % r.RUNS)
    assert dict(admin_cursor.fetchall())[first["run_id"]] == "abandoned"


def test_preconditions_refuse_before_any_change(mariadb, database, admin_cursor, module_runner):
    admin_cursor.execute("CREATE TABLE nokey (id INT, metadata LONGTEXT)")
    admin_cursor.execute("CREATE TABLE twokeys (id INT, a INT, b INT, metadata LONGTEXT, PRIMARY KEY (a, b))")
    admin_cursor.execute("CREATE TABLE myisam (id INT PRIMARY KEY, metadata LONGTEXT) ENGINE=MyISAM")
    for table, needle in (
        ("nokey", "has no primary key"),
        ("twokeys", "the primary key of %s.twokeys is composite (a, b)" % database),
        ("myisam", "needs InnoDB"),
        ("missing", "does not exist"),
    ):
        result = module_runner(json_type_repair, r.module_args(mariadb, database, table=table))
        assert result.failed and needle in result["msg"], result["msg"]
    bad = module_runner(json_type_repair, r.module_args(mariadb, database, policy={"INTEGER": "unwrap", "BOGUS;": "null"}, chunk_size=0))
    assert bad.failed and "refused its input" in bad["msg"]
    assert "unwrap only applies to STRING+OBJECT" in bad["msg"] and "'BOGUS;' is not a JSON kind" in bad["msg"] and "chunk_size must be 1" in bad["msg"]


def test_missing_grants_are_named_and_the_password_hash_is_not_shown(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ["1"])
    admin_cursor.execute("CREATE USER IF NOT EXISTS 'reader'@'127.0.0.1' IDENTIFIED BY 'Rd-pw-1'")
    admin_cursor.execute("GRANT SELECT ON `%s`.* TO 'reader'@'127.0.0.1'" % database)
    args = r.module_args(mariadb, database, login_user="reader", login_password="Rd-pw-1")
    result = module_runner(json_type_repair, args)
    assert result.failed
    assert "UPDATE on %s.analytics_activityevent" % database in result["msg"]
    assert "CREATE on %s.analytics_activityevent_jsonmend_quarantine" % database in result["msg"]
    admin_cursor.execute("SELECT PASSWORD('Rd-pw-1')")
    assert admin_cursor.fetchone()[0] not in result["msg"] and "IDENTIFIED BY <redacted>" in result["msg"]
    assert r.column_bytes(admin_cursor)[1] == b"1"
    admin_cursor.execute("DROP USER 'reader'@'127.0.0.1'")


def test_status_reports_runs_and_rows_written_since(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ["1", '{"a": 1}', "3"])
    run = module_runner(json_type_repair, r.module_args(mariadb, database))
    status = module_runner(json_type_repair, r.module_args(mariadb, database, mode="status", since="2026-11-02 00:00:00"))
    assert status["changed"] is False and status["latest_repair_run"] == run["run_id"]
    assert status["runs"][0]["quarantined_rows"] == 2
    assert status["since"]["rows_written_after"] == 2 and status["since"]["repair_runs_after"] == [run["run_id"]]


def test_password_never_in_output_or_progress(mariadb, database, admin_cursor, module_runner, tmp_path):
    r.fill(admin_cursor, ["1"])
    progress = tmp_path / "p.log"
    result = module_runner(json_type_repair, r.module_args(mariadb, database, progress_file=str(progress)))
    assert TOOL_PASSWORD not in json.dumps(result) and TOOL_PASSWORD not in progress.read_text()
    failed = module_runner(json_type_repair, r.module_args(mariadb, database, login_password="wrong-" + TOOL_PASSWORD))
    assert failed.failed and TOOL_PASSWORD not in failed["msg"]


def test_undo_of_a_check_column_restores_invalid_text(mariadb, database, admin_cursor):
    r.fill(admin_cursor, ["not json", "{broken", '"x"'], check=True)
    before = r.checksum(admin_cursor)
    # Two of three values are not JSON at all: the column must be named as JSON explicitly.
    r.execute(mariadb, database, column_is_json=True)
    # The application's session keeps its CHECK: undo's bypass is for its own session only.
    with pytest.raises(pymysql.err.MySQLError, match="4025"):
        admin_cursor.execute("UPDATE analytics_activityevent SET metadata = 'still invalid' WHERE id = 1")
    r.execute(mariadb, database, mode="undo")
    assert r.checksum(admin_cursor) == before


def test_changes_kept_out_of_the_binary_log_are_stated(mariadb, database, admin_cursor, module_runner):
    r.fill(admin_cursor, ["1"])
    admin_cursor.execute("SHOW MASTER STATUS")
    binlog_file, position = admin_cursor.fetchone()[:2]
    result = module_runner(json_type_repair, r.module_args(mariadb, database, sql_log_bin=False))
    assert result["binlog"]["logged"] is False and "NOT in the binary log" in result["binlog"]["message"]
    assert any("NOT in the binary log" in w for w in result["warnings_text"])
    admin_cursor.execute("SHOW BINLOG EVENTS IN %s FROM %s", (binlog_file, position))
    assert not [e for e in admin_cursor.fetchall() if "jsonmend" in str(e[-1]) or "analytics_activityevent" in str(e[-1])]


def test_any_table_with_a_string_key_and_an_empty_table(mariadb, database, admin_cursor, module_runner):
    admin_cursor.execute("CREATE TABLE shop_order (code VARCHAR(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PRIMARY KEY, attrs JSON) ENGINE=InnoDB")
    admin_cursor.execute("SET SESSION check_constraint_checks = 0")
    rows = [("ord-%03d" % i, v) for i, v in enumerate(['{"a": 1}', "3", '"x"', "[1]", "oops", None, '"{\\"k\\": 2}"'] * 30)]
    admin_cursor.executemany("INSERT INTO shop_order VALUES (%s, %s)", rows)
    admin_cursor.execute("SET SESSION check_constraint_checks = 1")
    before = r.checksum(admin_cursor, "shop_order")
    args = r.module_args(mariadb, database, table="shop_order", column="attrs", primary_key="code", chunk_size=17, chunk_time=0)
    result = module_runner(json_type_repair, args)
    assert not result.failed, result.get("msg")
    assert result["actions"] == {"unwrap": 30, "wrap": 0, "null": 120, "empty": 0, "skip": 0} and result["chunks"] >= 12
    assert result["quarantine_table"] == "shop_order_jsonmend_quarantine"
    undo = module_runner(json_type_repair, dict(args, mode="undo"))
    assert undo["restored"] == 150 and r.checksum(admin_cursor, "shop_order") == before
    admin_cursor.execute("CREATE TABLE empty_events LIKE shop_order")
    empty = module_runner(json_type_repair, dict(args, table="empty_events"))
    assert not empty.failed and empty["changed"] is False and empty["preconditions"]["explain"] == "table is empty"


def test_undo_of_an_unfinished_run_lets_the_next_repair_start_afresh(mariadb, database, admin_cursor):
    r.fill(admin_cursor, ["1", "2", "3", "4"])
    first = r.execute(mariadb, database, chunk_size=1, chunk_time=0)
    # As if it had been killed after key 2 (its rows 3 and 4 were repaired before, say, a resume).
    admin_cursor.execute("UPDATE `%s` SET status = 'running', last_key = '2'" % r.RUNS)
    undo = r.execute(mariadb, database, mode="undo")
    assert undo["restored"] == 4 and any("is unfinished" in w for w in undo["warnings_text"])
    again = r.execute(mariadb, database)
    assert again["resumed"] is False and again["run_id"] != first["run_id"] and again["rows_changed"] == 4
