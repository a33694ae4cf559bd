# The repair on the shapes and servers people really run (issue 13): Django's NOT NULL JSONField,
# non-strict sql_mode, rows that cannot be written, triggers and ON UPDATE timestamps, an undo
# that tells the repair's NULL from the application's, shared and earlier-version ledgers, and
# columns that are not JSON. Module calls on the session's server.
import json

import json_type_repair
import pytest

from tests.support import repair as r
from tools.devstack import seed

DOUBLE = json.dumps(json.dumps({"a": 1}))
# A JSON string (all ASCII) whose text is {"e": "<emoji>"}: unwrapped, it needs 4-byte UTF-8.
EMOJI_DOUBLE = '"{\\"e\\": \\"\\ud83d\\ude00\\"}"'


def make_table(cur, column, values, table="t", extra="", key="id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY"):
    """A table with `payload <column>` and one row per value (ids 1..n), bypassing any CHECK."""
    cur.execute("DROP TABLE IF EXISTS `%s`" % table)
    cur.execute("CREATE TABLE `%s` (%s, note varchar(20) NOT NULL DEFAULT 'n', payload %s%s) ENGINE=InnoDB" % (table, key, column, extra))
    cur.execute("SET SESSION check_constraint_checks = 0")
    for value in values:
        cur.execute("INSERT INTO `%s` (payload) VALUES (%%s)" % table, (value,))
    cur.execute("SET SESSION check_constraint_checks = 1")


def payloads(cur, table="t"):
    cur.execute("SELECT id, CAST(payload AS BINARY) FROM `%s` ORDER BY id" % table)
    return dict((k, None if v is None else bytes(v)) for k, v in cur.fetchall())


def run(mariadb, database, table="t", **extra):
    return r.execute(mariadb, database, table=table, column="payload", **extra)


@pytest.fixture
def non_strict_server(mariadb):
    """The server's global sql_mode empty, as on older servers; put back afterwards."""
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.sql_mode")
        before = cur.fetchone()[0]
        cur.execute("SET GLOBAL sql_mode = ''")
    yield
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("SET GLOBAL sql_mode = %s", (before,))


# -- item 1: Django's default JSONField is NOT NULL ------------------------------------------
def test_default_policy_writes_the_empty_object_on_a_not_null_column(mariadb, database, admin_cursor):
    django = "longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL CHECK (json_valid(payload))"
    make_table(admin_cursor, django, ['{"a": 1}', "42", "[1]", '"x"', DOUBLE, "null"])
    before = payloads(admin_cursor)
    result = run(mariadb, database)
    assert result["status"] == "finished" and result["policy"]["default_action"] == "empty"
    after = payloads(admin_cursor)
    assert after[1] == before[1] and after[5] == b'{"a": 1}'  # healthy kept, double-encoded unwrapped
    assert [after[k] for k in (2, 3, 4, 6)] == [b"{}"] * 4
    assert result["actions"]["empty"] == 4 and result["unwritable"]["rows"] == 0
    q = r.quarantine(admin_cursor, table="t_jsonmend_quarantine")
    assert q[2]["original"] == b"42" and q[2]["action"] == "empty" and q[2]["new"] == b"{}"
    undo = run(mariadb, database, mode="undo")
    assert undo["restored"] == 5 and payloads(admin_cursor) == before


@pytest.mark.parametrize("extra", [dict(default_action="null"), dict(policy={"INTEGER": "null"})], ids=["default_action", "policy"])
def test_explicit_null_on_a_not_null_column_is_refused_before_any_change(mariadb, database, admin_cursor, extra):
    make_table(admin_cursor, "longtext NOT NULL", ["42", '{"a": 1}'])
    with pytest.raises(r.JsonmendError) as refused:
        run(mariadb, database, **extra)
    message = str(refused.value)
    assert "column %s.t.payload is NOT NULL" % database in message and "use empty (the empty object {}), wrap or skip" in message
    assert "nothing was changed" in message
    admin_cursor.execute("SHOW TABLES LIKE 't_jsonmend%%'")
    assert admin_cursor.fetchall() == () and payloads(admin_cursor)[1] == b"42"
    # The read-only preflight (playbooks run it before a backup) refuses the same way.
    with pytest.raises(r.JsonmendError, match="is NOT NULL"):
        run(mariadb, database, mode="preflight", **extra)


def create_earlier_ledger(cur, table="t", database_table=None, key="bigint"):
    """The bookkeeping tables exactly as the previous version created them (no target columns)."""
    owner = database_table or table
    cur.execute(
        "CREATE TABLE `%s_jsonmend_quarantine` ( `id` bigint unsigned NOT NULL AUTO_INCREMENT, `run_id` varchar(64) CHARACTER SET ascii NOT NULL,"
        " `row_pk` %s NOT NULL, `column_name` varchar(64) NOT NULL, `json_type` varchar(32) NOT NULL, `action` varchar(8) NOT NULL,"
        " `original_value` longblob, `new_value` longblob, `repaired_at` datetime(6) NOT NULL,"
        " `undone_by` varchar(64) CHARACTER SET ascii DEFAULT NULL, `undone_at` datetime(6) DEFAULT NULL, PRIMARY KEY (`id`),"
        " UNIQUE KEY `run_row` (`run_id`, `row_pk`), KEY `row_pk` (`row_pk`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        " COMMENT='jsonmend: pre-images of repaired values of %s'" % (table, key, "%s.%s" % (r_db(cur), owner))
    )
    cur.execute(
        "CREATE TABLE `%s_jsonmend_runs` ( `run_id` varchar(64) CHARACTER SET ascii NOT NULL, `kind` varchar(8) NOT NULL,"
        " `column_name` varchar(64) NOT NULL, `undo_of` varchar(64) CHARACTER SET ascii DEFAULT NULL, `status` varchar(16) NOT NULL,"
        " `policy` text, `start_key` varchar(512) DEFAULT NULL, `end_key` varchar(512) DEFAULT NULL, `last_key` varchar(512) DEFAULT NULL,"
        " `counts` text, `started_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL, `finished_at` datetime(6) DEFAULT NULL,"
        " `undone_by` varchar(64) CHARACTER SET ascii DEFAULT NULL, `started_by` varchar(160) DEFAULT NULL, PRIMARY KEY (`run_id`),"
        " KEY `column_kind` (`column_name`, `kind`, `started_at`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        " COMMENT='jsonmend: repair and undo runs (checkpoints) of %s'" % (table, "%s.%s" % (r_db(cur), owner))
    )


def r_db(cur):
    cur.execute("SELECT DATABASE()")
    return cur.fetchone()[0]


def test_an_unfinished_run_of_the_earlier_version_is_closed_and_explained(mariadb, database, admin_cursor):
    """The earlier version's run on a NOT NULL column stopped at its first NULL (1048) and could never finish."""
    make_table(admin_cursor, "longtext NOT NULL", [DOUBLE, "42", "43", '{"a": 1}'])
    create_earlier_ledger(admin_cursor)
    old_policy = dict(actions={"INTEGER": "null", "STRING+OBJECT": "unwrap", "INVALID": "null"}, default_action="null", wrap_key="value")
    admin_cursor.execute(
        "INSERT INTO t_jsonmend_runs (run_id, kind, column_name, status, policy, start_key, end_key, last_key, counts, started_at, updated_at)"
        " VALUES ('old-run', 'repair', 'payload', 'running', %s, '1', '4', '1', '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        (json.dumps(old_policy),),
    )
    # It had unwrapped row 1 before stopping at row 2.
    admin_cursor.execute(
        "INSERT INTO t_jsonmend_quarantine (run_id, row_pk, column_name, json_type, action, original_value, new_value, repaired_at)"
        " VALUES ('old-run', 1, 'payload', 'STRING+OBJECT', 'unwrap', %s, '{\"a\": 1}', UTC_TIMESTAMP(6))",
        (DOUBLE,),
    )
    admin_cursor.execute("UPDATE t SET payload = '{\"a\": 1}' WHERE id = 1")
    result = run(mariadb, database, run_id="new-run")
    assert result["run_id"] == "new-run" and result["resumed"] is False
    assert any("unfinished run old-run set INTEGER, INVALID to NULL" in w and "undo them with run_id=old-run" in w for w in result["warnings_text"])
    assert payloads(admin_cursor)[2] == b"{}" and payloads(admin_cursor)[3] == b"{}"
    admin_cursor.execute("SELECT run_id, status, table_name FROM t_jsonmend_runs ORDER BY run_id")
    assert admin_cursor.fetchall() == (("new-run", "finished", "t"), ("old-run", "abandoned", "t"))
    # Both runs stay undoable: the new one, then the earlier version's (migrated in place).
    assert run(mariadb, database, mode="undo")["restored"] == 2
    old = run(mariadb, database, mode="undo", run_id="old-run")
    assert old["restored"] == 1 and payloads(admin_cursor) == {1: DOUBLE.encode(), 2: b"42", 3: b"43", 4: b'{"a": 1}'}


# -- item 2: the session pins a strict sql_mode --------------------------------------------------
def test_non_strict_server_never_stores_a_cut_or_replaced_value(mariadb, database, admin_cursor, non_strict_server):
    make_table(admin_cursor, "varchar(12) CHARACTER SET utf8mb3 NOT NULL", ['{"ok": 1}', "[1, 2, 3, 4]", '{"k": 2}', "7"])
    make_table(admin_cursor, "longtext CHARACTER SET utf8mb3 NULL", ['{"ok": 1}', EMOJI_DOUBLE], table="u")
    before_t, before_u = payloads(admin_cursor), payloads(admin_cursor, "u")
    # wrap of [1, 2, 3, 4] needs 21 characters; the default (empty) fits; unwrap of an emoji cannot be stored in utf8mb3.
    narrow = run(mariadb, database, policy={"ARRAY": "wrap"}, column_is_json=True)
    emoji = run(mariadb, database, table="u", column_is_json=True)
    after_t, after_u = payloads(admin_cursor), payloads(admin_cursor, "u")
    assert after_t[2] == before_t[2], "a wrap that does not fit must not be cut"
    assert after_t[4] == b"{}", "NOT NULL takes the empty object, never ''"
    assert after_u[2] == before_u[2], "an emoji must not become '?'"
    assert narrow["unwritable"]["rows"] == 1 and "(1406) Data too long for column 'payload'" in narrow["unwritable"]["by_reason"]
    assert emoji["unwritable"]["rows"] == 1 and any("1366" in k for k in emoji["unwritable"]["by_reason"])
    for value in list(after_t.values()) + list(after_u.values()):
        assert value is None or value in (before_t.get(2), before_u.get(2)) or isinstance(json.loads(value), dict)


# -- item 3: a row that cannot be written never blocks a run --------------------------------------
def test_unwritable_rows_are_left_as_they_were_recorded_and_the_run_completes(mariadb, database, admin_cursor, tmp_path):
    make_table(admin_cursor, "varchar(16) CHARACTER SET utf8mb3 NULL", ["[1, 2, 3, 4]", "42", '"{\\"e\\":1}"', "[5]", '{"ok": 1}'])
    make_table(admin_cursor, "longtext CHARACTER SET utf8mb3 NULL", [EMOJI_DOUBLE, "7"], table="u")
    before = payloads(admin_cursor)
    progress = tmp_path / "p.log"
    result = run(mariadb, database, policy={"ARRAY": "wrap"}, chunk_size=2, chunk_time=0, progress_file=str(progress), column_is_json=True)
    assert result["status"] == "finished"
    after = payloads(admin_cursor)
    assert after[1] == before[1] and after[2] is None and after[4] == b'{"value": [5]}'
    assert result["unwritable"]["rows"] == 1 and result["unwritable"]["samples"][0]["id"] == 1
    assert result["unwritable"]["samples"][0]["original"] == "[1, 2, 3, 4]" and "1406" in result["unwritable"]["samples"][0]["reason"]
    # Recorded in the quarantine (key, reason, original) and in the run record; never undone.
    admin_cursor.execute("SELECT row_pk, failure, original_value FROM t_jsonmend_quarantine WHERE failure IS NOT NULL")
    ((key, failure, original),) = admin_cursor.fetchall()
    assert key == 1 and "Data too long" in failure and original == b"[1, 2, 3, 4]"
    admin_cursor.execute("SELECT counts FROM t_jsonmend_runs WHERE run_id = %s", (result["run_id"],))
    counts = json.loads(admin_cursor.fetchone()[0])
    assert counts["unwritable_rows"] == 1 and list(counts["unwritable"]) == ["(1406) Data too long for column 'payload'"]
    assert "unwritable" in result["statistics"] and "unwritable" in progress.read_text()
    # A later run repairs it with another policy.
    again = run(mariadb, database, policy={"ARRAY": "empty"})
    assert again["rows_changed"] == 1 and payloads(admin_cursor)[1] == b"{}"
    # The emoji that utf8mb3 cannot hold: left as it was, the run completes.
    emoji = run(mariadb, database, table="u", column_is_json=True)
    assert emoji["status"] == "finished" and emoji["unwritable"]["rows"] == 1 and payloads(admin_cursor, "u")[2] is None
    undo = run(mariadb, database, mode="undo", run_id=result["run_id"])
    assert undo["restored"] == 3 and undo["conflicts"] == 0


def test_a_trigger_that_refuses_a_row_does_not_block_the_run(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["1", "2", "3", '{"a": 1}'])
    admin_cursor.execute(
        "CREATE TRIGGER t_guard BEFORE UPDATE ON t FOR EACH ROW BEGIN"
        " IF OLD.id = 2 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'row 2 is frozen'; END IF; END"
    )
    result = run(mariadb, database)
    assert result["status"] == "finished" and result["rows_changed"] == 2
    assert result["unwritable"]["rows"] == 1 and "row 2 is frozen" in result["unwritable"]["samples"][0]["reason"]
    assert payloads(admin_cursor) == {1: None, 2: b"2", 3: None, 4: b'{"a": 1}'}


# -- item 4 and 12: post-images, fingerprints, triggers, ON UPDATE columns -------------------------
def test_undo_tells_the_repairs_null_from_the_applications(mariadb, database, admin_cursor):
    make_table(
        admin_cursor, "longtext NULL", ["1", "2", "3"], extra=", updated_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"
    )
    admin_cursor.execute("UPDATE t SET updated_at = '2026-01-01 00:00:00'")
    run(mariadb, database)
    # ON UPDATE columns keep their values through the repair...
    admin_cursor.execute("SELECT DISTINCT CAST(updated_at AS CHAR) FROM t")
    assert admin_cursor.fetchall() == (("2026-01-01 00:00:00.000000",),)
    # ...the application then saves row 2 with NULL (its own decision; Django bumps updated_at).
    admin_cursor.execute("UPDATE t SET payload = NULL, note = 'saved' WHERE id = 2")
    undo = run(mariadb, database, mode="undo")
    assert undo["restored"] == 2 and undo["conflicts"] == 1
    assert undo["conflict_samples"][0]["id"] == 2 and "the row was written since the repair" in undo["conflict_samples"][0]["reason"]
    assert payloads(admin_cursor) == {1: b"1", 2: None, 3: b"3"}
    admin_cursor.execute("SELECT id, CAST(updated_at AS CHAR) FROM t WHERE id <> 2")
    assert set(v for _k, v in admin_cursor.fetchall()) == {"2026-01-01 00:00:00.000000"}, "undo must keep ON UPDATE columns too"


def test_a_trigger_that_rewrites_null_does_not_make_the_undo_fail(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["1", "[2]", '{"a": 1}'])
    admin_cursor.execute("CREATE TRIGGER t_no_null BEFORE UPDATE ON t FOR EACH ROW BEGIN IF NEW.payload IS NULL THEN SET NEW.payload = '{}'; END IF; END")
    before = payloads(admin_cursor)
    result = run(mariadb, database)
    assert payloads(admin_cursor)[1] == b"{}" and r.quarantine(admin_cursor, table="t_jsonmend_quarantine")[1]["new"] == b"{}"
    assert any("UPDATE triggers (t_no_null)" in w for w in result["warnings_text"])
    undo = run(mariadb, database, mode="undo")
    assert undo["restored"] == 2 and undo["conflicts"] == 0 and payloads(admin_cursor) == before


def test_a_trigger_that_rewrites_the_undo_is_reported_not_hidden(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["oops", "7", '{"a": 1}', '{"b": 2}', '{"c": 3}'])
    run(mariadb, database)
    # Installed after the repair: the application now sanitizes what it writes.
    admin_cursor.execute("CREATE TRIGGER t_clean BEFORE UPDATE ON t FOR EACH ROW BEGIN IF NOT JSON_VALID(NEW.payload) THEN SET NEW.payload = '{}'; END IF; END")
    undo = run(mariadb, database, mode="undo")
    assert undo["restored"] == 1 and undo["conflicts"] == 1
    assert undo["conflict_samples"][0]["id"] == 1 and "could not be restored" in undo["conflict_samples"][0]["reason"]
    assert payloads(admin_cursor)[1] is None and payloads(admin_cursor)[2] == b"7"


# -- item 6: ledgers keyed by database, table and column -----------------------------------------
def test_a_shared_ledger_never_crosses_tables(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["1", "2", '{"a": 1}'], table="a")
    make_table(admin_cursor, "longtext NULL", ["10", "20", '{"b": 1}'], table="b")
    shared = dict(quarantine_table="shared_quarantine", runs_table="shared_runs")
    before_a, before_b = payloads(admin_cursor, "a"), payloads(admin_cursor, "b")
    first = run(mariadb, database, table="a", **shared)
    run(mariadb, database, table="b", **shared)
    # Undoing b restores b only, and leaves a's run alone.
    undo_b = run(mariadb, database, table="b", mode="undo", **shared)
    assert undo_b["restored"] == 2 and payloads(admin_cursor, "b") == before_b
    assert payloads(admin_cursor, "a") == {1: None, 2: None, 3: b'{"a": 1}'}
    admin_cursor.execute("SELECT undone_by FROM shared_runs WHERE run_id = %s", (first["run_id"],))
    assert admin_cursor.fetchone()[0] is None
    with pytest.raises(r.JsonmendError, match="is a run of %s.a.payload, not of %s.b.payload" % (database, database)):
        run(mariadb, database, table="b", mode="undo", run_id=first["run_id"], **shared)
    status = run(mariadb, database, table="b", mode="status", **shared)
    assert [x["table_name"] for x in status["runs"]] == ["b", "b"]
    assert run(mariadb, database, table="a", mode="undo", **shared)["restored"] == 2 and payloads(admin_cursor, "a") == before_a


def test_a_ledger_whose_keys_do_not_fit_is_refused(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["1"], table="a")
    admin_cursor.execute("CREATE TABLE b (code varchar(20) NOT NULL PRIMARY KEY, payload longtext NULL) ENGINE=InnoDB")
    admin_cursor.execute("INSERT INTO b VALUES ('x1', '1'), ('x2', '{}')")
    shared = dict(quarantine_table="shared_quarantine", runs_table="shared_runs")
    run(mariadb, database, table="a", **shared)
    with pytest.raises(r.JsonmendError, match="was created for another table"):
        run(mariadb, database, table="b", primary_key="code", **shared)


def test_an_earlier_versions_ledger_is_migrated_in_place(mariadb, database, admin_cursor):
    make_table(admin_cursor, "longtext NULL", ["1", "2", '{"a": 1}'])
    create_earlier_ledger(admin_cursor)
    admin_cursor.execute(
        "INSERT INTO t_jsonmend_runs (run_id, kind, column_name, status, policy, start_key, end_key, last_key, counts, started_at, updated_at)"
        " VALUES ('old-run', 'repair', 'payload', 'finished', '{}', '1', '3', '3', '{}', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
    )
    admin_cursor.execute(
        "INSERT INTO t_jsonmend_quarantine (run_id, row_pk, column_name, json_type, action, original_value, new_value, repaired_at)"
        " VALUES ('old-run', 1, 'payload', 'INTEGER', 'null', '1', NULL, UTC_TIMESTAMP(6))"
    )
    admin_cursor.execute("UPDATE t SET payload = NULL WHERE id = 1")
    # Read-only first (status, check mode): the earlier rows are seen, nothing is altered.
    status = run(mariadb, database, mode="status")
    assert status["latest_repair_run"] == "old-run"
    preview = r.execute(mariadb, database, table="t", column="payload", mode="undo", check_mode=True)
    assert preview["restored"] == 1
    admin_cursor.execute("SHOW COLUMNS FROM t_jsonmend_runs LIKE 'table_name'")
    assert admin_cursor.fetchall() == ()
    # The next repair migrates the tables, keeps the earlier run and adds its own.
    result = run(mariadb, database)
    assert result["ledger_migrated"]["owner"] == "%s.t" % database and result["ledger_migrated"]["rows_assigned"] == 2
    admin_cursor.execute("SELECT run_id, table_name FROM t_jsonmend_runs ORDER BY run_id")
    assert dict(admin_cursor.fetchall())["old-run"] == "t"
    assert run(mariadb, database, mode="undo")["restored"] == 1
    assert run(mariadb, database, mode="undo", run_id="old-run")["restored"] == 1
    assert payloads(admin_cursor) == {1: b"1", 2: b"2", 3: b'{"a": 1}'}


# -- item 13: columns that are not JSON ---------------------------------------------------------------
@pytest.mark.parametrize(
    "column, value, needle",
    [
        ("int NULL", 7, "(a number)"),
        ("datetime NULL", "2026-11-02 10:00:00", "is datetime (a date or time)"),
        ("longblob NULL", b"{}", "is longblob (binary data)"),
    ],
)
def test_columns_that_cannot_hold_json_are_refused_before_any_change(mariadb, database, admin_cursor, column, value, needle):
    make_table(admin_cursor, column, [value, value])
    before = payloads(admin_cursor)
    for mode in ("repair", "preflight"):
        with pytest.raises(r.JsonmendError) as refused:
            run(mariadb, database, mode=mode)
        assert needle in str(refused.value) and "nothing was changed" in str(refused.value) and "text columns are note" in str(refused.value)
    with pytest.raises(r.JsonmendError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        r.scan(mariadb, database, table="t", column="payload", group_by="", timestamp_column="", user_column="")
    assert payloads(admin_cursor) == before


def test_a_text_column_of_notes_is_refused_unless_named_json(mariadb, database, admin_cursor):
    make_table(admin_cursor, "varchar(200) NULL", ["call back on monday", "paid", None, "left a voicemail", '{"a": 1}'])
    before = payloads(admin_cursor)
    with pytest.raises(r.JsonmendError) as refused:
        run(mariadb, database)
    message = str(refused.value)
    assert "3 of 4 sampled non-NULL values (75.0%) are not valid JSON" in message and "threshold of 50.0%" in message
    assert "column_is_json=true (jsonmend_column_is_json=yes)" in message and payloads(admin_cursor) == before
    scan = r.scan(mariadb, database, table="t", column="payload", group_by="", timestamp_column="", user_column="")
    assert scan["column_check"]["looks_like_json"] is False and "does not look like a JSON column" in scan["warnings_text"][0]
    assert scan["column_check"]["percent"] == 75.0
    # The threshold is the operator's: 75% is refused at 70% too.
    with pytest.raises(r.JsonmendError, match="threshold of 70.0%"):
        run(mariadb, database, not_json_percent=70.0)
    named = run(mariadb, database, column_is_json=True, policy={"INVALID": "wrap"})
    assert named["rows_changed"] == 3 and any("column_is_json=true" in w for w in named["warnings_text"])
    assert json.loads(payloads(admin_cursor)[1]) == {"value": "call back on monday"}


def test_the_module_fails_cleanly_on_a_not_null_refusal(mariadb, database, admin_cursor, module_runner):
    make_table(admin_cursor, "longtext NOT NULL", ["42"])
    result = module_runner(json_type_repair, r.module_args(mariadb, database, table="t", column="payload", default_action="null"))
    assert result.failed and "is NOT NULL" in result["msg"] and "nothing was changed" in result["msg"]


def test_seeded_table_still_repairs_with_defaults(mariadb, database, admin_cursor):
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 400, corrupt_percent=10.0)
    result = r.execute(mariadb, database)
    assert result["status"] == "finished" and result["unwritable"]["rows"] == 0 and result["rows_changed"] > 0
