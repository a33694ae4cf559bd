# The read-only modules on the throwaway PostgreSQL (issue 18, first step): json_type_scan,
# json_row_types and json_corrupt_export classify jsonb, json and text columns exactly (a
# double-encoded object apart, SQL NULL apart from JSON null), count invalid text as INVALID
# without aborting (PostgreSQL 15 has no pg_input_is_valid), connect through a password file,
# and refuse a missing table or schema and a column that is not JSON-ish with a message naming it.
import csv
import json

import json_corrupt_export
import json_row_types
import json_type_scan
import pytest
from psycopg import sql

from tools.devstack.mariadb_server import TOOL_PASSWORD

DOUBLE = json.dumps(json.dumps({"question_id": 9}))
# (stored value, class of a jsonb, json and text column holding it); None is SQL NULL. The jsonb
# and json columns cannot hold invalid text: their rows there hold an object.
ROWS = [
    ('{"a": 1}', "OBJECT", "OBJECT", "OBJECT"),
    ('  {"b": [1, {"c": null}]}  ', "OBJECT", "OBJECT", "OBJECT"),
    ('{"ключ": "значение ✓", "emoji": "\\ud83d\\ude42"}', "OBJECT", "OBJECT", "OBJECT"),
    ("3.5", "DOUBLE", "DOUBLE", "DOUBLE"),
    ("42", "INTEGER", "INTEGER", "INTEGER"),
    ('"text"', "STRING", "STRING", "STRING"),
    ('"a {b"', "STRING", "STRING", "STRING"),
    ("[1, 2]", "ARRAY", "ARRAY", "ARRAY"),
    (DOUBLE, "STRING+OBJECT", "STRING+OBJECT", "STRING+OBJECT"),
    (json.dumps(json.dumps({"quiz": {"score": 3}, "ü": "✓"})), "STRING+OBJECT", "STRING+OBJECT", "STRING+OBJECT"),
    (None, "SQL NULL", "SQL NULL", "SQL NULL"),
    ("null", "NULL", "NULL", "NULL"),
    ("true", "BOOLEAN", "BOOLEAN", "BOOLEAN"),
]
# Text only: what a text column may hold that no JSON column can (the JSON columns hold {"ok": 1}).
INVALID_TEXT = [
    ("not json", "INVALID"),
    ('{"a": 1', "INVALID"),
    ("", "INVALID"),
    ('{"a":1} x', "INVALID"),
    ('"\\u0000"', "INVALID"),  # Python reads it, jsonb cannot hold it
    ('{"a": NaN}', "READABLE OBJECT"),  # the application's decoder reads it; not corrupt
]
KINDS = ("jsonb", "json", "text")


@pytest.fixture(scope="module")
def pgdb(postgres):
    """A database with public.events (jsonb, json and text columns) and app.events2."""
    name = postgres.create_database("jsonmend_read")
    with postgres.connect(name) as conn:
        conn.execute(
            "CREATE TABLE events (id bigserial PRIMARY KEY, user_id int NOT NULL, event_type varchar(64) NOT NULL,"
            " created_at timestamptz NOT NULL, m_jsonb jsonb, m_json json, m_text text)"
        )
        for i, (value, *_classes) in enumerate(ROWS):
            conn.execute(
                "INSERT INTO events (user_id, event_type, created_at, m_jsonb, m_json, m_text) VALUES (%s, %s, %s, %s::jsonb, %s::json, %s)",
                (i % 3, "quiz_completed" if i % 2 else "content_viewed", "2026-11-%02d 10:00:00+00" % (i + 1), value, value, value),
            )
        for i, (value, _cls) in enumerate(INVALID_TEXT):
            conn.execute(
                "INSERT INTO events (user_id, event_type, created_at, m_jsonb, m_json, m_text) VALUES (%s, 'login', %s, '{\"ok\": 1}', '{\"ok\": 1}', %s)",
                (7, "2026-11-20 0%d:00:00+00" % i, value),
            )
        conn.execute("CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER events_touch BEFORE UPDATE ON events FOR EACH ROW EXECUTE FUNCTION touch()")
        conn.execute("CREATE SCHEMA app")
        conn.execute('CREATE TABLE app.events2 (id int PRIMARY KEY, "Meta" jsonb NOT NULL)')
        conn.execute("""INSERT INTO app.events2 VALUES (1, '{"x": 1}'), (2, '5'), (3, '"{\\"y\\": 2}"')""")
        conn.execute("ANALYZE")
    return name


def expected(kind, decoder="python"):
    """(by_type without zeros, sql_null_rows, double_encoded_rows) of a column of `kind`."""
    column = KINDS.index(kind)
    classes = [row[1 + column] for row in ROWS]
    if kind == "text":
        classes += [cls if decoder == "python" or cls != "READABLE OBJECT" else "INVALID" for _v, cls in INVALID_TEXT]
    else:
        classes += ["OBJECT"] * len(INVALID_TEXT)
    by_type = {}
    for cls in classes:
        if cls != "SQL NULL":
            key = "STRING" if cls == "STRING+OBJECT" else cls
            by_type[key] = by_type.get(key, 0) + 1
    return by_type, classes.count("SQL NULL"), classes.count("STRING+OBJECT")


def scan_args(postgres, pgdb, column, **more):
    return dict(postgres.login_params(pgdb), **dict(dict(table="events", column=column), **more))


@pytest.mark.parametrize("decoder", ["python", "server"])
@pytest.mark.parametrize("kind", KINDS)
def test_scan_counts_every_class_of_each_column_type(postgres, pgdb, module_runner, kind, decoder):
    result = module_runner(json_type_scan, scan_args(postgres, pgdb, "m_" + kind, decoder=decoder))
    assert not result.failed, result.get("msg")
    by_type, sql_null, double = expected(kind, decoder)
    assert dict((k, v) for k, v in result["by_type"].items() if v) == by_type
    assert result["sql_null_rows"] == sql_null and result["double_encoded_rows"] == double
    assert result["total_rows"] == len(ROWS) + len(INVALID_TEXT)
    readable = by_type.get("READABLE OBJECT", 0)
    assert result["corrupted_rows"] == result["total_rows"] - sql_null - by_type["OBJECT"] - readable
    assert result["server"]["flavour"] == "postgresql" and result["server"]["version"].startswith("PostgreSQL ")
    assert result["target"]["column_type"] == kind and result["target"]["triggers"] == [dict(name="events_touch", timing="BEFORE", event="UPDATE")]
    # First and last corrupt keys: on json and jsonb every corrupt row is listed by key in the one pass
    # (no key buckets, no MIN/MAX over the healthy rows), on text through the buckets as on MariaDB.
    # The JSON types end on 'true'; text on '{"a": NaN}' when the server judges, else on '"\\u0000"'.
    last = len(ROWS) + (6 if decoder == "server" else 5) if kind == "text" else len(ROWS)
    assert (result["first_corrupt"]["id"], result["last_corrupt"]["id"]) == (4, last)
    samples = dict((s["id"], s) for s in result["samples"])
    assert samples[9]["double_encoded"] is True and samples[9]["type"] == "STRING"
    # Every sample's group, user and time are its row's (the listed rows' are read by key after the pass).
    with postgres.connect(pgdb) as conn:
        rows = dict((row[0], row[1:]) for row in conn.execute("SELECT id, event_type, user_id, created_at FROM events").fetchall())
    for key, sample in samples.items():
        assert (sample["group"], sample["user"]) == (rows[key][0], rows[key][1]), sample
        assert sample["at"][:19] == rows[key][2].isoformat()[:19].replace("T", sample["at"][10]), sample
    if kind == "text":
        assert samples[len(ROWS) + 1]["type"] == "INVALID" and samples[len(ROWS) + 1]["value"] == "not json"


def test_chunked_parallel_scan_counts_the_same(postgres, pgdb, module_runner):
    result = module_runner(json_type_scan, scan_args(postgres, pgdb, "m_text", chunk_size=4, parallel=2, max_execution_time=30))
    assert not result.failed, result.get("msg")
    by_type, sql_null, double = expected("text")
    assert dict((k, v) for k, v in result["by_type"].items() if v) == by_type
    assert result["scan"]["parallel"] == 2 and result["scan"]["chunks"] > 2
    assert {d["day"] for d in result["by_day"]} >= {"2026-11-20", "2026-11-04"}


def test_scan_reaches_a_schema_qualified_table_with_a_quoted_mixed_case_column(postgres, pgdb, module_runner):
    args = dict(postgres.login_params(pgdb), table="app.events2", column="Meta", group_by="", timestamp_column="", user_column="")
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    assert result["object_rows"] == 1 and result["by_type"]["INTEGER"] == 1 and result["double_encoded_rows"] == 1
    assert result["target"]["nullable"] is False


def test_scan_through_a_password_file_keeps_the_password_off_the_inputs(postgres, pgdb, module_runner, tmp_path):
    passfile = postgres.write_pgpass(tmp_path / "pgpass")
    args = scan_args(postgres, pgdb, "m_jsonb", passfile=str(passfile), dialect="auto")
    del args["login_password"]
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    assert result["server"]["flavour"] == "postgresql" and TOOL_PASSWORD not in json.dumps(result)


def test_a_service_file_and_a_socket_directory_reach_the_server(postgres, pgdb, module_runner, tmp_path):
    passfile = postgres.write_pgpass(tmp_path / "pgpass")
    services = tmp_path / "pg_service.conf"
    services.write_text("[events]\nhost=127.0.0.1\nport=%d\nuser=jsonmend\ndbname=%s\n" % (postgres.port, pgdb))
    args = dict(database=pgdb, service="events", service_file=str(services), passfile=str(passfile), table="events", column="m_json")
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    assert result["server"]["flavour"] == "postgresql" and result["double_encoded_rows"] == 2
    # The socket file: auto takes it for PostgreSQL, the port comes from its name; the socket trusts local roles.
    socket_file = str(postgres.socket_dir / (".s.PGSQL.%d" % postgres.port))
    result = module_runner(json_type_scan, dict(database=pgdb, login_unix_socket=socket_file, login_user="jsonmend", table="events", column="m_json"))
    assert not result.failed, result.get("msg")
    assert result["server"]["flavour"] == "postgresql" and result["target"]["column_type"] == "json"


def test_auto_tells_postgresql_by_its_silence_on_another_port(postgres, pgdb, module_runner):
    result = module_runner(json_type_scan, scan_args(postgres, pgdb, "m_jsonb", dialect="auto", catalog_only=True))
    assert not result.failed, result.get("msg")
    assert result["server"]["flavour"] == "postgresql"


def test_a_wrong_password_is_the_drivers_message_without_the_password(postgres, pgdb, module_runner):
    result = module_runner(json_type_scan, dict(scan_args(postgres, pgdb, "m_jsonb"), login_password="Wrong-pw-1"))
    assert result.failed and "password authentication failed" in result["msg"] and "Wrong-pw-1" not in result["msg"]


@pytest.mark.parametrize(
    "table, column, message",
    [
        ("events2", "Meta", "table public.events2 does not exist in database 'jsonmend_read', but schema app has a table events2: set table to app.events2"),
        ("nope.events", "m_jsonb", "schema 'nope' does not exist in database 'jsonmend_read'"),
        ("missing", "m_jsonb", "table public.missing does not exist in database 'jsonmend_read'"),
        ("events", "user_id", "column jsonmend_read.events.user_id is integer (a number), not a JSON text column"),
        ("events", "created_at", "is timestamp with time zone (a date or time)"),
        ("events", "nope", "column 'nope' is not a column of jsonmend_read.events"),
        ("a.b.c", "m_jsonb", "is not a valid identifier"),
    ],
)
def test_bad_targets_are_refused_naming_them(postgres, pgdb, module_runner, table, column, message):
    result = module_runner(json_type_scan, scan_args(postgres, pgdb, column, table=table))
    assert result.failed and message in result["msg"], result["msg"]


@pytest.mark.parametrize("kind", KINDS)
def test_row_types_classify_like_the_scan(postgres, pgdb, module_runner, kind):
    keys = list(range(1, len(ROWS) + len(INVALID_TEXT) + 1)) + [999]
    result = module_runner(json_row_types, dict(postgres.login_params(pgdb), table="events", column="m_" + kind, keys=keys))
    assert not result.failed, result.get("msg")
    column = KINDS.index(kind)
    classes = [row[1 + column] for row in ROWS]
    # The server's verdict: an object only Python reads is INVALID for json_row_types.
    classes += [cls if cls != "READABLE OBJECT" else "INVALID" for _v, cls in INVALID_TEXT] if kind == "text" else ["OBJECT"] * len(INVALID_TEXT)
    assert [r["class"] for r in result["rows"]] == classes
    assert result["missing"] == [999] and result["all_objects"] is False
    assert module_runner(json_row_types, dict(postgres.login_params(pgdb), table="events", column="m_" + kind, keys=["1"]))["all_objects"] is True


def test_export_writes_every_corrupted_text_row_exactly(postgres, pgdb, module_runner, tmp_path):
    with postgres.connect(pgdb) as conn:
        before = conn.execute("SELECT md5(string_agg(m_text || m_json::text || m_jsonb::text, ',' ORDER BY id)) FROM events").fetchone()[0]
    dest = tmp_path / "corrupted.csv"
    result = module_runner(json_corrupt_export, dict(scan_args(postgres, pgdb, "m_text"), dest=str(dest), chunk_size=3))
    assert not result.failed, result.get("msg")
    with open(dest, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "user_id", "event_type", "created_at", "m_jsonb", "m_json", "m_text", "json_class"]
    stored = [(str(i + 1), row[0], row[3]) for i, row in enumerate(ROWS) if row[3] not in ("OBJECT", "SQL NULL")]
    stored += [(str(len(ROWS) + i + 1), value, "INVALID") for i, (value, _cls) in enumerate(INVALID_TEXT)]  # the server's verdict
    assert [(r[0], r[6], r[7]) for r in rows[1:]] == stored
    assert rows[1][5] == ROWS[3][0] and rows[1][4] == "3.5"  # json kept byte for byte, jsonb as the server prints it
    assert result["rows"] == len(stored) and result["first_at"].startswith("2026-11-04")
    with postgres.connect(pgdb) as conn:
        assert conn.execute("SELECT md5(string_agg(m_text || m_json::text || m_jsonb::text, ',' ORDER BY id)) FROM events").fetchone()[0] == before


def test_export_of_a_jsonb_column_keeps_the_json_column_text(postgres, pgdb, module_runner, tmp_path):
    dest = tmp_path / "jsonb.csv"
    result = module_runner(json_corrupt_export, dict(scan_args(postgres, pgdb, "m_jsonb"), dest=str(dest)))
    assert not result.failed, result.get("msg")
    assert result["by_class"] == {"DOUBLE": 1, "INTEGER": 1, "STRING": 2, "ARRAY": 1, "STRING+OBJECT": 2, "NULL": 1, "BOOLEAN": 1}
    with open(dest, newline="", encoding="utf-8") as handle:
        rows = dict((r[0], r) for r in csv.reader(handle))
    assert rows["9"][5] == DOUBLE  # the json column's text, exactly as written


def test_no_statement_writes(postgres, pgdb, module_runner):
    """The scan's session is READ ONLY: a role without write privileges scans all the same."""
    with postgres.admin(pgdb) as conn:
        conn.execute(sql.SQL("CREATE ROLE reader LOGIN PASSWORD {}").format(sql.Literal("Reader-pw-9")))
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader")
    args = dict(scan_args(postgres, pgdb, "m_text"), login_user="reader", login_password="Reader-pw-9")
    result = module_runner(json_type_scan, args)
    assert not result.failed, result.get("msg")
    assert result["invalid_rows"] == expected("text")[0]["INVALID"]
