# json_type_scan against the session's real MariaDB server: every JSON kind, both scan
# modes, bad input, failures that change nothing, and secrets that never show.
import json
import sqlite3

import json_guard
import json_type_scan
import pytest

from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD

BIG_OBJECT = json.dumps({"blob": "x" * 1_000_000, "n": 1})

# (stored text or None, expected class); classes as the module reports them in by_type,
# with STRING+OBJECT for double-encoded objects and SQL NULL apart.
KINDS = [
    ('{"a": 1}', "OBJECT"),
    ("{}", "OBJECT"),
    ('  {"a":1}  ', "OBJECT"),
    ('{"ключ": "значение ✓", "emoji": "🙂"}', "OBJECT"),
    (BIG_OBJECT, "OBJECT"),
    ('[1, 2, {"k": "v"}]', "ARRAY"),
    ("[]", "ARRAY"),
    ("42", "INTEGER"),
    ("-5", "INTEGER"),
    ("18446744073709551615", "INTEGER"),
    ("1e3", "INTEGER"),  # MariaDB says INTEGER; MySQL would say DOUBLE: both corrupt
    ("3.14", "DOUBLE"),
    ("1.0", "DOUBLE"),
    ('"hello"', "STRING"),
    ('"héllo wörld ✓"', "STRING"),
    ('"[1, 2]"', "STRING"),
    ('"{not json"', "STRING"),
    (json.dumps(json.dumps({"a": 1})), "STRING+OBJECT"),
    (json.dumps(json.dumps({"quiz": {"score": 3}, "ü": "✓"})), "STRING+OBJECT"),
    ("true", "BOOLEAN"),
    ("false", "BOOLEAN"),
    ("null", "NULL"),
    (None, "SQL NULL"),
    (None, "SQL NULL"),
    ("not json", "INVALID"),
    ('{"a": 1', "INVALID"),
    ("", "INVALID"),
    ('{"a":1} x', "INVALID"),
    ("NaN", "INVALID"),
]


def expected_counts(kinds):
    by_type, sql_null, double = {}, 0, 0
    for _value, cls in kinds:
        if cls == "SQL NULL":
            sql_null += 1
            continue
        if cls == "STRING+OBJECT":
            double += 1
            cls = "STRING"
        by_type[cls] = by_type.get(cls, 0) + 1
    return by_type, sql_null, double


def fill(cur, kinds, group="quiz_completed"):
    seed.insert_rows(cur, [(i % 3 + 1, group, value, "2026-11-%02d 10:00:00" % (i % 27 + 1)) for i, (value, _cls) in enumerate(kinds)])


def checksum(cur, table="analytics_activityevent"):
    cur.execute("CHECKSUM TABLE `%s` EXTENDED" % table)
    return cur.fetchone()[1]


def scan_args(mariadb, db_name, **extra):
    args = mariadb.login_params(db_name)
    args.update(extra)
    return args


@pytest.mark.parametrize("check", [True, False], ids=["django-check-column", "plain-longtext"])
@pytest.mark.parametrize(
    "extra", [{}, {"chunk_size": 4}, {"chunk_size": 3, "parallel": 3}, {"parallel": 2}], ids=["aggregate", "chunked", "chunked-parallel", "aggregate-parallel"]
)
def test_every_json_kind_is_counted_right(mariadb, database, admin_cursor, module_runner, check, extra):
    seed.create_table(admin_cursor, check=check)
    fill(admin_cursor, KINDS)
    result = module_runner(json_type_scan, scan_args(mariadb, database, **extra))
    assert not result.failed, result.get("msg")
    by_type, sql_null, double = expected_counts(KINDS)
    assert result["total_rows"] == len(KINDS)
    assert result["sql_null_rows"] == sql_null
    assert result["double_encoded_rows"] == double
    assert {k: v for k, v in result["by_type"].items() if v} == by_type
    assert result["corrupted_rows"] == len(KINDS) - sql_null - by_type["OBJECT"]
    assert result["invalid_rows"] == 5
    assert result["changed"] is False
    assert result["target"]["json_check_constraint"] is check
    # Every corrupted row reaches the breakdowns, '{'-prefixed invalid text included.
    assert sum(g["count"] for g in result["by_group"]) == result["corrupted_rows"]
    assert sum(d["count"] for d in result["by_day"]) == result["corrupted_rows"]
    assert sum(u["count"] for u in result["top_users"]) == result["corrupted_rows"]
    assert len(result["samples"]) == result["corrupted_rows"]


def test_breakdowns_without_brace_prefixed_invalid_text(mariadb, database, admin_cursor, module_runner):
    """The cheap prefilter path: padded objects are healthy, every corrupted row is counted."""
    kinds = [k for k in KINDS if not (k[1] == "INVALID" and k[0].startswith("{"))]
    seed.create_table(admin_cursor, check=False)
    fill(admin_cursor, kinds)
    result = module_runner(json_type_scan, scan_args(mariadb, database, chunk_size=5))
    by_type, sql_null, _double = expected_counts(kinds)
    assert result["corrupted_rows"] == len(kinds) - sql_null - by_type["OBJECT"]
    assert sum(g["count"] for g in result["by_group"]) == result["corrupted_rows"]
    assert sum(u["count"] for u in result["top_users"]) == result["corrupted_rows"]
    assert len(result["samples"]) == result["corrupted_rows"]
    assert all(s["type"] != "OBJECT" for s in result["samples"])


def test_groups_days_users_and_samples(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    seed.insert_rows(
        admin_cursor,
        [
            (1, "quiz_answer_submitted", "5", "2026-11-01 10:00:00"),
            (1, "quiz_answer_submitted", "6", "2026-11-02 10:00:00"),
            (2, "content_viewed", "7.5", "2026-11-02 11:00:00"),
            (3, "login", '{"ok": true}', "2026-11-03 10:00:00"),
            (3, "quiz_completed", '"' + "x" * 300 + '"', "2026-11-04 10:00:00"),
        ],
    )
    result = module_runner(json_type_scan, scan_args(mariadb, database, sample_limit=2))
    assert [(g["group"], g["type"], g["count"], g["priority"]) for g in result["by_group"]] == [
        ("quiz_answer_submitted", "INTEGER", 2, "HIGH"),
        ("quiz_completed", "STRING", 1, "HIGH"),
        ("content_viewed", "DOUBLE", 1, "LOW"),
    ]
    assert result["by_day"] == [{"day": "2026-11-04", "count": 1}, {"day": "2026-11-02", "count": 2}, {"day": "2026-11-01", "count": 1}]
    assert result["top_users"][0]["user"] == 1 and result["top_users"][0]["count"] == 2
    assert result["first_corrupt"] == {"id": 1, "at": "2026-11-01T10:00:00"}
    assert result["last_corrupt"] == {"id": 5, "at": "2026-11-04T10:00:00"}
    assert [s["id"] for s in result["samples"]] == [1, 2]
    assert result["samples"][0]["value"] == "5" and result["samples"][0]["type"] == "INTEGER"
    long = module_runner(json_type_scan, scan_args(mariadb, database, sample_limit=10))["samples"][-1]
    assert long["truncated"] and len(long["value"]) == 200 and long["length"] == 302


def test_custom_priorities_and_columns(mariadb, database, admin_cursor, module_runner):
    admin_cursor.execute("CREATE TABLE orders (order_no INT PRIMARY KEY, channel VARCHAR(10), attrs LONGTEXT, placed DATETIME, customer INT)")
    admin_cursor.execute("INSERT INTO orders VALUES (1, 'web', '[1]', '2026-01-01', 9), (2, 'pos', '{}', '2026-01-02', 9)")
    result = module_runner(
        json_type_scan,
        scan_args(
            mariadb,
            database,
            table="orders",
            column="attrs",
            primary_key="order_no",
            group_by="channel",
            timestamp_column="placed",
            user_column="customer",
            priorities={"web": "LOW"},
            default_priority="HIGH",
        ),
    )
    assert result["corrupted_rows"] == 1
    assert result["by_group"][0]["group"] == "web" and result["by_group"][0]["priority"] == "LOW"
    skipped = module_runner(
        json_type_scan, scan_args(mariadb, database, table="orders", column="attrs", primary_key="order_no", group_by="", timestamp_column="", user_column="")
    )
    assert skipped["corrupted_rows"] == 1 and skipped["by_day"] == [] and skipped["top_users"] == []


def test_empty_table(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    for extra in ({}, {"chunk_size": 100}):
        result = module_runner(json_type_scan, scan_args(mariadb, database, **extra))
        assert result["total_rows"] == 0 and result["corrupted_rows"] == 0 and result["samples"] == []
        assert result["first_corrupt"] == {"id": None, "at": None}


def test_modes_agree_on_a_seeded_table(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 30000, corrupt_percent=2.0, invalid=True)
    keys = ("total_rows", "corrupted_rows", "sql_null_rows", "by_type", "by_group", "by_day", "top_users", "samples", "first_corrupt", "last_corrupt")
    results = [
        module_runner(json_type_scan, scan_args(mariadb, database, **extra))
        for extra in ({"parallel": 1}, {"parallel": 3}, {"chunk_size": 1000, "parallel": 1}, {"chunk_size": 777, "parallel": 2})
    ]
    assert results[0]["corrupted_rows"] > 300 and results[0]["invalid_rows"] > 0
    for other in results[1:]:
        assert {k: other[k] for k in keys} == {k: results[0][k] for k in keys}
    # The seed's own query folds invalid text into its NULL bucket; ours does not.
    admin_cursor.execute("SELECT COUNT(*) FROM analytics_activityevent WHERE JSON_TYPE(metadata) IS NULL")
    seeds_null_bucket = admin_cursor.fetchone()[0]
    assert seeds_null_bucket == results[0]["sql_null_rows"] + results[0]["invalid_rows"]
    assert results[2]["scan"]["chunks"] >= 30


def test_scan_changes_nothing_and_takes_no_locks(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS)
    before = checksum(admin_cursor)
    # A writer holding a row lock does not block the scan (plain snapshot reads).
    writer = mariadb.admin(database, autocommit=False)
    with writer.cursor() as cur:
        cur.execute("UPDATE analytics_activityevent SET metadata = '{}' WHERE id = 1")
        result = module_runner(json_type_scan, scan_args(mariadb, database, chunk_size=5), check_mode=True)
    writer.rollback()
    writer.close()
    assert not result.failed and result["changed"] is False
    assert checksum(admin_cursor) == before


def test_mysql_native_json_expression_agrees_on_valid_documents(mariadb, database, admin_cursor):
    """MySQL 8 is not installable here: run its native-JSON expression on MariaDB, whose JSON
    functions accept the same valid documents, and compare with the MariaDB expression."""
    from ansible.module_utils.jsonmend.db.dialects import MariaDB, MySQL

    seed.create_table(admin_cursor)
    fill(admin_cursor, [k for k in KINDS if k[1] != "INVALID"])
    col = "`metadata`"
    admin_cursor.execute("SELECT %s, %s FROM analytics_activityevent" % (MySQL().classify_expr(col, native_json=True), MariaDB().classify_expr(col)))
    rows = admin_cursor.fetchall()
    assert rows and all(mysql == maria for mysql, maria in rows)
    # On a MySQL text column the guarded (MariaDB) expression is used.
    assert MySQL().classify_expr(col, native_json=False) == MariaDB().classify_expr(col)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"database": "no_such_db"}, "Unknown database 'no_such_db'"),
        ({"table": "no_such_table"}, "table {db}.no_such_table does not exist"),
        ({"column": "no_such_column"}, "column 'no_such_column' is not a column of {db}.analytics_activityevent"),
        ({"group_by": "nope"}, "group_by 'nope' is not a column"),
        ({"table": "x; DROP TABLE y"}, "table 'x; DROP TABLE y' is not a valid identifier"),
        ({"column": "metadata`) OR 1=1 --"}, "is not a valid identifier"),
        ({"database": "d`; DROP DATABASE mysql"}, "database 'd`; DROP DATABASE mysql' is not a valid identifier"),
        ({"chunk_size": -5}, "chunk_size must be 0 or more"),
        ({"login_password": "wrong-password"}, "Access denied for user 'jsonmend'"),
        ({"login_port": 1, "connect_timeout": 3}, "could not connect to database"),
        ({"login_host": "192.0.2.1", "connect_timeout": 2}, "could not connect to database"),
    ],
)
def test_bad_input_fails_clearly_and_changes_nothing(mariadb, database, admin_cursor, module_runner, change, message):
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS[:5])
    admin_cursor.execute("CREATE TABLE y (id INT)")
    before = checksum(admin_cursor)
    result = module_runner(json_type_scan, scan_args(mariadb, database, **change))
    assert result.failed
    assert message.format(db=database) in result["msg"]
    assert TOOL_PASSWORD not in json.dumps(result)
    assert checksum(admin_cursor) == before
    admin_cursor.execute("SHOW TABLES")
    assert {r[0] for r in admin_cursor.fetchall()} == {"analytics_activityevent", "y"}


def test_option_file_login(mariadb, database, admin_cursor, module_runner, tmp_path):
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS[:3])
    cnf = mariadb.write_client_option_file(tmp_path / "my.cnf")
    result = module_runner(json_type_scan, {"database": database, "config_file": str(cnf)})
    assert not result.failed, result.get("msg")
    assert result["total_rows"] == 3
    assert TOOL_PASSWORD not in json.dumps(result)


def test_read_only_user_is_enough(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS[:6])
    admin_cursor.execute("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'Reader-pw-1'")
    admin_cursor.execute("GRANT SELECT ON `%s`.* TO 'reader'@'%%'" % database)
    args = scan_args(mariadb, database, login_user="reader", login_password="Reader-pw-1")
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    assert result["corrupted_rows"] == 1


def test_statement_time_limit_names_the_fix(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    seed.seed(admin_cursor, 50000, corrupt_percent=1.0)
    result = module_runner(json_type_scan, scan_args(mariadb, database, parallel=1, max_execution_time=0.001, chunk_size=0))
    assert result.failed
    assert "max_execution_time" in result["msg"] and "chunk_size" in result["msg"]


def test_sqlite_development_database(tmp_path, module_runner):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE analytics_activityevent (id INTEGER PRIMARY KEY, user_id INT, event_type TEXT, metadata TEXT, created_at TEXT)")
    rows = [(i + 1, 1, "quiz_completed", value, "2026-11-0%d 10:00:00" % (i % 9 + 1)) for i, (value, _c) in enumerate(KINDS) if value != BIG_OBJECT]
    conn.executemany("INSERT INTO analytics_activityevent VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()
    result = module_runner(json_type_scan, {"dialect": "sqlite", "database": str(path), "chunk_size": 0})
    assert not result.failed, result.get("msg")
    kinds = [k for k in KINDS if k[0] != BIG_OBJECT]
    by_type, sql_null, double = expected_counts(kinds)
    assert result["sql_null_rows"] == sql_null and result["double_encoded_rows"] == double
    # SQLite's json_type says 'real' for 1e3; the total of corrupt rows is what matters.
    assert result["corrupted_rows"] == len(kinds) - sql_null - by_type["OBJECT"]
    assert result["server"]["flavour"] == "sqlite"


def test_guard_status_is_read_on_the_scans_connection(mariadb, database, admin_cursor, module_runner):
    """guard_status (the weekly check): json_guard's status in the scan's own module process, the scan unchanged."""
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS[:6])
    since = {"log_table": "", "since": "2026-12-01T00:00:00Z", "check_grants": True}
    result = module_runner(json_type_scan, scan_args(mariadb, database, guard_status=since))
    assert not result.failed, result.get("msg")
    alone = module_runner(json_guard, scan_args(mariadb, database, mode="status", since=since["since"]))
    guard = result["guard_status"]
    assert not guard.get("failed"), guard.get("msg")
    for key in ("mode", "installed_before", "installed", "log_table", "nullable", "drifted", "since", "statements", "triggers"):
        assert guard[key] == alone[key], key
    assert guard["events"]["total"] == alone["events"]["total"] == 0
    without = module_runner(json_type_scan, scan_args(mariadb, database))
    assert "guard_status" not in without
    assert {k: result[k] for k in ("total_rows", "corrupted_rows", "by_type")} == {k: without[k] for k in ("total_rows", "corrupted_rows", "by_type")}


def test_a_guard_that_cannot_be_read_never_fails_the_scan(mariadb, database, admin_cursor, module_runner):
    seed.create_table(admin_cursor)
    fill(admin_cursor, KINDS[:6])
    result = module_runner(json_type_scan, scan_args(mariadb, database, guard_status={"since": "last tuesday"}))
    assert not result.failed, result.get("msg")
    assert result["total_rows"] == 6
    assert result["guard_status"]["failed"] is True
    assert result["guard_status"]["msg"].startswith("guard status of %s.analytics_activityevent.metadata failed: " % database)
    assert "last tuesday" in result["guard_status"]["msg"]
