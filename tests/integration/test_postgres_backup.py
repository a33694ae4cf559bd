# Backup, verification and restore on the throwaway PostgreSQL (issue 18, third step): pg_dump's
# custom format with counts and checksums from the dump's own snapshot, a verification in a scratch
# database that is dropped after, a restore that brings changed rows back byte for byte (json
# column included) behind a safety backup, the tools' major version checked, and the password kept
# off argv in a 0600 password file that is removed.
import json
import os
import stat
import subprocess
import tempfile
import threading

import db_backup
import db_backup_compare
import db_backup_verify
import db_restore
import json_guard
import pytest
from ansible.module_utils.jsonmend.backup import clitools, manifests, pg_tools
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.db.connection import connect
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support.processes import ProcessWatcher
from tools.devstack.mariadb_server import TOOL_PASSWORD

# What a Django JSONField column holds after the bug: objects, and the corrupt kinds.
VALUES = [
    '{"a": 1}',
    '{"ключ": "значение ✓", "emoji": "🙂"}',
    "3.5",
    "42",
    '"text"',
    "[1,  2]",
    json.dumps(json.dumps({"question_id": 9})),
    "null",
    None,
    '{"quote": "it\'s \\"q\\"", "nl": "x\\ny"}',
]


@pytest.fixture(scope="module")
def pgdb(postgres):
    return postgres.create_database("jsonmend_backup")


@pytest.fixture
def backup_dir(tmp_path):
    path = tmp_path / "backups"
    path.mkdir(mode=0o700)
    return path


def make_table(postgres, pgdb, name, schema="public"):
    """`schema.name` with a jsonb and a json column (the json one keeps its text byte for byte)."""
    with postgres.connect(pgdb) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS %s" % schema)
        conn.execute("DROP TABLE IF EXISTS %s.%s" % (schema, name))
        conn.execute("CREATE TABLE %s.%s (id bigserial PRIMARY KEY, m jsonb, raw json, note text NOT NULL DEFAULT 'n')" % (schema, name))
        with conn.cursor() as cur:
            rows = [(v, v) for v in VALUES] + [('{"n": %d,   "pad": "%s"}' % (i, "x" * (i % 50)),) * 2 for i in range(300)]
            cur.executemany("INSERT INTO %s.%s (m, raw) VALUES (%%s::jsonb, %%s::json)" % (schema, name), rows)
    return "%s.%s" % (schema, name)


def content(postgres, pgdb, table):
    with postgres.connect(pgdb) as conn:
        return conn.execute("SELECT id, m::text, raw::text, note FROM %s ORDER BY id" % table).fetchall()


def args_for(postgres, pgdb, backup_dir, table, **extra):
    args = postgres.login_params(pgdb)
    args.update(backup_dir=str(backup_dir), table=table)
    args.update(extra)
    return args


def scratch_databases(postgres):
    with postgres.admin() as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'jmv\\_%'").fetchall()]


def test_backup_and_verification_of_a_jsonb_table_with_corrupt_rows(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "events")
    result = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))
    assert not result.failed, result.get("msg")
    m = result["manifest"]
    assert m["verified"] is True and m["verification"]["ok"] and m["verification"]["scratch_dropped"], m["verification"]
    assert m["tables"] == [table] and m["rows"][table] == len(VALUES) + 300
    assert m["checksum_algorithm"] == "md5a+md5b" and m["server"]["flavour"] == "postgresql" and m["server"]["identity"].startswith("uuid:pg-")
    assert m["keys"][table]["column"] == "id" and m["keys"][table]["min"] == 1
    assert m["dump"]["format"] == manifests.PG_DUMP_FORMAT and m["path"].endswith(".pgdump") and m["snapshot"]["exported"]
    assert not any(TOOL_PASSWORD in arg for arg in m["dump"]["command"])
    assert stat.S_IMODE(os.stat(m["path"]).st_mode) == 0o600 and clitools.file_sha256(m["path"]) == m["sha256"]
    assert scratch_databases(postgres) == []
    # The checksum of the live table, taken later, agrees: the manifest describes the rows dumped.
    db = connect(postgres.login_params(pgdb))
    try:
        assert table_checksum(db, table)["checksum"] == m["checksum"][table]
    finally:
        db.close()
    again = module_runner(db_backup_verify, dict(postgres.login_params(pgdb), backup_dir=str(backup_dir), backup_id=m["id"]))
    assert not again.failed and again["manifest"]["verified"], again.get("msg")


def test_a_changed_dump_fails_its_verification(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "tampered")
    m = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table, verify=False))["manifest"]
    manifest = dict(m, checksum=dict(m["checksum"], **{table: "md5a+md5b:1:2"}))
    manifests.write_manifest(manifest, m["manifest_path"])
    result = module_runner(db_backup_verify, dict(postgres.login_params(pgdb), backup_dir=str(backup_dir), backup_id=m["id"]))
    assert result.failed and "content differs" in result["msg"], result.get("msg")
    assert manifests.read_manifest(m["manifest_path"])["verified"] is False
    assert scratch_databases(postgres) == []


def test_restore_brings_changed_rows_back_byte_for_byte(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "quiz", schema="app")
    before = content(postgres, pgdb, table)
    m = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))["manifest"]
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE app.quiz SET m = '{}', raw = '{ }' WHERE m IS NOT NULL AND jsonb_typeof(m) <> 'object'")
        conn.execute("DELETE FROM app.quiz WHERE id = 2")
        conn.execute("INSERT INTO app.quiz (m, raw) VALUES ('{\"late\": 1}', '{\"late\": 1}')")
    assert content(postgres, pgdb, table) != before
    checked = module_runner(db_restore, args_for(postgres, pgdb, backup_dir, table, backup_id=m["id"]), check_mode=True)
    assert not checked.failed and checked["impact"]["tables"][table]["differs"], checked.get("msg")
    # Counted from the backup's key ranges and row digests: the non-objects changed, row 2 deleted, one inserted.
    assert checked["impact"]["exact"] and checked["impact"]["unknown"] == []
    changed = sum(1 for v in VALUES if v is not None and not v.startswith("{"))
    assert (checked["impact"]["rows_inserted_since"], checked["impact"]["rows_changed_since"], checked["impact"]["rows_deleted_since"]) == (1, changed, 1)
    assert content(postgres, pgdb, table) != before
    result = module_runner(db_restore, args_for(postgres, pgdb, backup_dir, "app.quiz"))
    assert not result.failed, result.get("msg")
    assert result["backup_id"] == m["id"] and result["after"][table]["ok"]
    assert content(postgres, pgdb, table) == before
    safety = result["safety_backup"]
    assert safety["id"].startswith(manifests.SAFETY_PREFIX) and os.path.exists(os.path.join(backup_dir, safety["id"] + ".pgdump"))
    # The sequence came back with the table: the next insert does not collide.
    with postgres.connect(pgdb) as conn:
        conn.execute("INSERT INTO app.quiz (m) VALUES ('{}')")


def test_a_table_with_a_trigger_and_a_foreign_key_verifies_and_restores(postgres, pgdb, backup_dir, module_runner):
    """pg_dump --table holds a trigger but not its function (the application's, jsonmend's observe
    guard), a foreign key but not the table it references: the scratch restore leaves them out (they
    change no row), the restore in place keeps them."""
    table = make_table(postgres, pgdb, "audited")
    with postgres.connect(pgdb) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS owners (id bigint PRIMARY KEY)")
        conn.execute("INSERT INTO owners SELECT g FROM generate_series(1, 3) g ON CONFLICT DO NOTHING")
        conn.execute("ALTER TABLE audited ADD COLUMN owner_id bigint REFERENCES owners (id)")
        conn.execute("UPDATE audited SET owner_id = 1 + id % 3")
        conn.execute("CREATE OR REPLACE FUNCTION audited_note() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'seen'; RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER audited_note BEFORE UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION audited_note()")
    observe = module_runner(json_guard, dict(postgres.login_params(pgdb), table=table, column="m", primary_key="id", mode="observe"))
    assert not observe.failed and observe["installed"] == "observe", observe.get("msg")
    before = content(postgres, pgdb, table)
    result = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))
    assert not result.failed, result.get("msg")
    m = result["manifest"]
    assert m["verified"] is True and scratch_databases(postgres) == []
    assert sorted(m["verification"]["left_out"]) == [
        "FK CONSTRAINT public audited audited_owner_id_fkey",
        "TRIGGER public audited audited_note",
        "TRIGGER public audited jsonmend_guard_observe_ins_audited",
        "TRIGGER public audited jsonmend_guard_observe_upd_audited",
    ]
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE audited SET m = '{}' WHERE id <= 5")
    restored = module_runner(db_restore, args_for(postgres, pgdb, backup_dir, table, backup_id=m["id"], safety_backup=False))
    assert not restored.failed, restored.get("msg")
    assert content(postgres, pgdb, table) == before
    with postgres.connect(pgdb) as conn:
        names = [r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audited'::regclass AND NOT tgisinternal")]
        fks = [r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'audited'::regclass AND contype = 'f'")]
    assert sorted(names) == ["audited_note", "jsonmend_guard_observe_ins_audited", "jsonmend_guard_observe_upd_audited"] and fks == ["audited_owner_id_fkey"]


def test_a_restore_that_fails_changes_nothing(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "referenced")
    m = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))["manifest"]
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE referenced SET note = 'changed'")
        # A view on the table: DROP TABLE (--clean) fails, and the single transaction with it.
        conn.execute("CREATE VIEW referenced_notes AS SELECT note FROM referenced")
    during = content(postgres, pgdb, table)
    result = module_runner(db_restore, args_for(postgres, pgdb, backup_dir, table, backup_id=m["id"], safety_backup=False))
    assert result.failed and "pg_restore" in result["msg"] and "nothing was changed" in result["msg"], result.get("msg")
    assert content(postgres, pgdb, table) == during


def test_the_password_stays_off_argv_in_a_private_password_file(postgres, pgdb, tmp_path):
    db = connect(postgres.login_params(pgdb))
    try:
        connection = pg_tools.conninfo(db, postgres.login_params(pgdb))
        password = pg_tools.connection_password(db)
    finally:
        db.close()
    assert password == TOOL_PASSWORD
    cmd = pg_tools.dump_command("pg_dump", connection, str(tmp_path / "x.pgdump"), "table", ["public.events"], "00000003-1", 1, 5)
    assert not any(TOOL_PASSWORD in arg for arg in cmd)
    assert '--table="public"."events"' in cmd and "--snapshot=00000003-1" in cmd and "--no-password" in cmd
    with pg_tools.PassFile("p:a\\ss") as passfile:
        path, folder = passfile.path, os.path.dirname(passfile.path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert open(path).read() == "*:*:*:*:p\\:a\\\\ss\n"
        env = passfile.env(dict(PGPASSWORD="leak", PATH="/usr/bin"))
        assert env == dict(PATH="/usr/bin", PGPASSFILE=path)
    assert not os.path.exists(folder)
    # The tool really connects with it (no password anywhere else).
    tool = pg_tools.find_pg_tool("pg_dump")
    listed = pg_tools.run_tool([tool, "--dbname=%s" % connection, "--schema-only", "--no-password"], password, "pg_dump --schema-only")
    assert "PostgreSQL database dump" in listed["stdout"]
    with pytest.raises(JsonmendError, match="failed"):
        pg_tools.run_tool([tool, "--dbname=%s" % connection, "--schema-only", "--no-password"], "wrong", "pg_dump --schema-only")


@pytest.mark.parametrize(
    "line, server, refused",
    [
        ("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)", 15, False),
        ("pg_dump (PostgreSQL) 17.2", 15, False),
        ("pg_dump (PostgreSQL) 13.4", 15, True),
        ("pg_restore (PostgreSQL) 9.6.24", 13, True),
    ],
)
def test_a_tool_older_than_the_server_is_refused(line, server, refused):
    if refused:
        with pytest.raises(JsonmendError, match="older than the server \\(PostgreSQL %d\\).*postgresql-client-%d" % (server, server)):
            pg_tools.check_tool_major("/usr/bin/pg_dump", line, server)
    else:
        assert pg_tools.check_tool_major("/usr/bin/pg_dump", line, server) == pg_tools.tool_major(line)
    with pytest.raises(JsonmendError, match="could not read"):
        pg_tools.check_tool_major("/usr/bin/pg_dump", "mysqldump  Ver 10.19", server)


def test_the_tools_in_use_match_the_server(postgres):
    version = subprocess.run([pg_tools.find_pg_tool("pg_dump"), "--version"], capture_output=True, text=True, check=True).stdout
    with postgres.admin() as conn:
        server = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    assert pg_tools.tool_major(version) >= server


def test_check_mode_writes_nothing(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "planned")
    result = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table), check_mode=True)
    assert not result.failed and "manifest" not in result, result.get("msg")
    assert result["plan"]["tables"] == [table] and result["plan"]["path"].endswith(".pgdump")
    assert list(backup_dir.iterdir()) == []


def test_the_plan_measures_the_data_directory_for_the_scratch_database(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "measured")
    plan = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table), check_mode=True)["plan"]
    # A local server whose data directory this host sees: measured, data and indexes x 1.1.
    assert plan["server_space"]["checked"] is True, plan["server_space"]
    assert plan["server_space"]["needed_bytes"] > 0 and plan["server_space"]["free_bytes"] > 0
    assert module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table, verify=False), check_mode=True)["plan"]["server_space"] == dict(
        checked=False, reason="no verification"
    )
    # A role that may create the scratch database but not read data_directory: not measured, and said why.
    with postgres.admin(pgdb) as conn:
        conn.execute("DROP ROLE IF EXISTS creator")
        conn.execute("CREATE ROLE creator LOGIN CREATEDB PASSWORD 'Creator-pw-1'")
        conn.execute("GRANT SELECT ON public.measured, public.measured_id_seq TO creator")
    try:
        args = args_for(postgres, pgdb, backup_dir, table, login_user="creator", login_password="Creator-pw-1")
        space = module_runner(db_backup, args, check_mode=True)["plan"]["server_space"]
        assert space["checked"] is False and "pg_read_all_settings" in space["reason"], space
        with postgres.admin(pgdb) as conn:
            conn.execute("GRANT pg_read_all_settings TO creator")
        assert module_runner(db_backup, args, check_mode=True)["plan"]["server_space"]["checked"] is True
    finally:
        with postgres.admin(pgdb) as conn:
            conn.execute("REVOKE ALL ON public.measured, public.measured_id_seq FROM creator")
            conn.execute("DROP ROLE creator")
    assert list(backup_dir.iterdir()) == []


def test_a_role_without_createdb_is_told_before_anything_is_written(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "guarded")
    with postgres.admin(pgdb) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'Reader-pw-1'")
        conn.execute("GRANT SELECT ON public.guarded, public.guarded_id_seq TO reader")
    args = args_for(postgres, pgdb, backup_dir, table, login_user="reader", login_password="Reader-pw-1")
    result = module_runner(db_backup, args)
    assert result.failed and 'ALTER ROLE "reader" CREATEDB' in result["msg"], result.get("msg")
    assert list(backup_dir.iterdir()) == []
    # Without the verification it needs no more than SELECT.
    result = module_runner(db_backup, dict(args, verify=False))
    assert not result.failed and result["manifest"]["rows"][table] == len(VALUES) + 300, result.get("msg")


def test_database_backup_verifies_and_restores(postgres, backup_dir, module_runner):
    database = postgres.create_database("jsonmend_whole")
    one = make_table(postgres, database, "first")
    two = make_table(postgres, database, "second", schema="other")
    before = [content(postgres, database, t) for t in (one, two)]
    m = module_runner(db_backup, args_for(postgres, database, backup_dir, one, scope="database"))["manifest"]
    assert m["scope"] == "database" and m["tables"] == [two, one] and m["verified"], m.get("verification")
    assert m["objects"]["sequences"] == ["other.second_id_seq", "public.first_id_seq"]
    with postgres.connect(database) as conn:
        conn.execute("UPDATE first SET raw = '[]'")
        conn.execute("DELETE FROM other.second WHERE id > 5")
    result = module_runner(db_restore, args_for(postgres, database, backup_dir, one, scope="database"))
    assert not result.failed, result.get("msg")
    assert [content(postgres, database, t) for t in (one, two)] == before
    assert all(r["ok"] for r in result["after"].values())


def test_writes_during_the_backup_do_not_break_consistency(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "busy")
    with postgres.connect(pgdb) as conn:
        conn.execute("INSERT INTO busy (m, raw) SELECT jsonb_build_object('n', g), json_build_object('n', g) FROM generate_series(1, 50000) g")
    stop = threading.Event()
    written = []

    def writer():
        with postgres.connect(pgdb) as conn:
            while not stop.is_set():
                conn.execute("INSERT INTO busy (m, raw) VALUES ('{\"w\": 1}', '{\"w\": 1}')")
                conn.execute("UPDATE busy SET note = note || 'x' WHERE id = (SELECT max(id) FROM busy) - 100")
                written.append(1)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        result = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))
    finally:
        stop.set()
        thread.join(30)
    assert not result.failed, result.get("msg")
    m = result["manifest"]
    assert m["verified"] and m["snapshot"]["writes_paused_ms"] == 0.0, m["verification"]
    assert written and m["rows"][table] < len(VALUES) + 300 + 50000 + len(written)


def test_no_process_shows_the_password_while_the_tools_run(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "watched")
    with postgres.connect(pgdb) as conn:
        conn.execute("INSERT INTO watched (m, raw) SELECT jsonb_build_object('n', g, 'p', repeat('y', 80)), '{}' FROM generate_series(1, 100000) g")
    before = set(os.listdir(tempfile.gettempdir()))
    with ProcessWatcher([TOOL_PASSWORD]) as watcher:
        result = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))
    assert not result.failed, result.get("msg")
    assert not watcher.hits, watcher.hits
    assert {"pg_dump", "pg_restore"} <= watcher.tools_seen  # sampled while the dump and the scratch restore ran
    assert TOOL_PASSWORD not in json.dumps(result["manifest"])
    assert not [n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("jsonmend-")]  # password files gone


def compared(module_runner, postgres, pgdb, backup_dir, table, **extra):
    result = module_runner(db_backup_compare, args_for(postgres, pgdb, backup_dir, table, impact=True, **extra))
    assert not result.failed, result.get("msg")
    return result


def test_compare_names_the_rows_and_ranges_changed_since_the_backup(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "ranged")
    with postgres.connect(pgdb) as conn:
        conn.execute("INSERT INTO ranged (m, raw) SELECT jsonb_build_object('n', g), json_build_object('n', g) FROM generate_series(1, 4690) g")
        conn.execute("ANALYZE ranged")
    m = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))["manifest"]
    index = m["ranges"][table]
    assert index["key"] == "id" and index["key_kind"] == "int" and len(index["ranges"]) == 5, index
    assert m["digests"]["sha256"] and os.path.exists(m["digests_path"]) and stat.S_IMODE(os.stat(m["digests_path"]).st_mode) == 0o600
    assert sum(r[1] for r in index["ranges"]) == m["rows"][table] == 5000
    # An unchanged table compares identical, every count 0.
    same = compared(module_runner, postgres, pgdb, backup_dir, table)
    assert same["identical"] and same["impact"]["exact"], same
    assert (same["impact"]["rows_inserted_since"], same["impact"]["rows_changed_since"], same["impact"]["rows_deleted_since"]) == (0, 0, 0)
    assert same["impact"]["tables"][table]["ranges_differing"] == 0
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE ranged SET m = '{\"edited\": true}' WHERE id IN (1500, 1501)")
        conn.execute("DELETE FROM ranged WHERE id = 3210")
        conn.execute("INSERT INTO ranged (m, raw) VALUES ('{}', '{}')")
    found = compared(module_runner, postgres, pgdb, backup_dir, table)
    assert not found["identical"]
    impact = found["impact"]
    assert impact["exact"] and (impact["rows_inserted_since"], impact["rows_changed_since"], impact["rows_deleted_since"]) == (1, 2, 1)
    entry = impact["tables"][table]
    assert entry["changed"] == dict(first_key=1500, last_key=1501, sample_keys=[1500, 1501])
    assert entry["deleted"] == dict(first_key=3210, last_key=3210, sample_keys=[3210])
    assert entry["inserted"]["sample_keys"] == [5001]
    # Rows 1500-1501, 3210 and 5001 fall in three of the five ranges.
    assert entry["ranges"] == 5 and entry["ranges_differing"] == 3 and entry["rows_now"] == 5000


@pytest.mark.parametrize(
    "key_type, keys",
    [("text", ["a,b;c", "ключ", "m", "z🙂"]), ("bytea", [b"\x00\x01", b"a;b", b"\xff\xfe", b"zz"])],
    ids=["text key", "bytea key"],
)
def test_text_and_binary_keys_name_their_rows(postgres, pgdb, backup_dir, module_runner, key_type, keys):
    table = "public.keyed_%s" % key_type
    with postgres.connect(pgdb) as conn:
        conn.execute("DROP TABLE IF EXISTS %s" % table)
        conn.execute("CREATE TABLE %s (code %s PRIMARY KEY, m jsonb)" % (table, key_type))
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO %s VALUES (%%s, %%s::jsonb)" % table, [(k, '{"n": %d}' % i) for i, k in enumerate(keys)])
    taken = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table))
    assert not taken.failed, taken.get("msg")
    m = taken["manifest"]
    assert m["verified"] and m["ranges"][table]["key_kind"] == ("text" if key_type == "text" else "bytes")
    new_key = "0 new" if key_type == "text" else b"\x00\x00"
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE %s SET m = '3' WHERE code = %%s" % table, (keys[1],))
        conn.execute("DELETE FROM %s WHERE code = %%s" % table, (keys[2],))
        conn.execute("INSERT INTO %s VALUES (%%s, '{}')" % table, (new_key,))
    impact = compared(module_runner, postgres, pgdb, backup_dir, table)["impact"]
    assert (impact["rows_inserted_since"], impact["rows_changed_since"], impact["rows_deleted_since"]) == (1, 1, 1)

    def shown(key):
        return key if isinstance(key, str) else key.hex()

    entry = impact["tables"][table]
    assert entry["inserted"]["sample_keys"] == [shown(new_key)]
    assert entry["changed"]["sample_keys"] == [shown(keys[1])] and entry["deleted"]["sample_keys"] == [shown(keys[2])]


def test_without_row_digests_the_table_still_compares_by_checksum(postgres, pgdb, backup_dir, module_runner):
    table = make_table(postgres, pgdb, "undigested")
    m = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, table, row_digests=False))["manifest"]
    assert m["ranges"] == {} and m["digests"] is None and m["digests_path"] is None
    assert not any(name.endswith(manifests.DIGESTS_SUFFIX) for name in os.listdir(backup_dir))
    same = compared(module_runner, postgres, pgdb, backup_dir, table)
    assert same["identical"] and same["impact"]["rows_changed_since"] == 0


def test_a_uuid_key_over_several_ranges(postgres, pgdb, backup_dir, module_runner):
    # No MIN(uuid) on PostgreSQL, and the ranges' first keys come back as text parameters.
    with postgres.connect(pgdb) as conn:
        conn.execute("DROP TABLE IF EXISTS public.keyed_uuid")
        conn.execute("CREATE TABLE public.keyed_uuid (code uuid PRIMARY KEY, m jsonb)")
        conn.execute("INSERT INTO public.keyed_uuid SELECT md5(g::text)::uuid, jsonb_build_object('n', g) FROM generate_series(1, 2500) g")
    taken = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, "keyed_uuid"))
    assert not taken.failed, taken.get("msg")
    m = taken["manifest"]
    assert len(m["ranges"]["public.keyed_uuid"]["ranges"]) == 3 and m["keys"]["public.keyed_uuid"]["min"] == "0004d0b5-9e19-461f-f126-e3a08a814c33"
    with postgres.connect(pgdb) as conn:
        changed = conn.execute("UPDATE public.keyed_uuid SET m = '1' WHERE code = md5('2000')::uuid RETURNING code::text").fetchone()[0]
    impact = compared(module_runner, postgres, pgdb, backup_dir, "keyed_uuid")["impact"]
    assert (impact["rows_inserted_since"], impact["rows_changed_since"], impact["rows_deleted_since"]) == (0, 1, 0)
    entry = impact["tables"]["public.keyed_uuid"]
    assert entry["changed"]["sample_keys"] == [changed] and entry["ranges_differing"] == 1
    # Without digests the key bounds are read on their own, from the key's index.
    plain = module_runner(db_backup, args_for(postgres, pgdb, backup_dir, "keyed_uuid", row_digests=False, verify=False, label="uuid_plain"))
    assert not plain.failed, plain.get("msg")
    assert plain["manifest"]["keys"]["public.keyed_uuid"]["min"] == m["keys"]["public.keyed_uuid"]["min"] and plain["manifest"]["ranges"] == {}
