# Repair and undo on the throwaway PostgreSQL (issue 18, second step): jsonb, json and text
# columns, NULL and NOT NULL, repaired in READ COMMITTED keyset chunks and undone exactly (the
# whole table compared before and after), a second concurrent run refused by the advisory lock,
# a run killed with SIGKILL mid-repair resumed to the end with every row accounted for, a
# trigger that refuses the repaired value reported as on MariaDB, check mode changing nothing,
# and a missing privilege refused before any change, naming the GRANT.
import json
import time

import pytest
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from psycopg import sql

from tests.support import repair as r

DOUBLE = json.dumps(json.dumps({"question_id": 9, "ü": "✓"}))
# What a JSON column can hold: objects (kept), corrupt kinds (repaired), SQL NULL (nullable only).
JSON_VALUES = [
    '{"a": 1}',
    '  {"b": [1, {"c": null}]}  ',
    "3.5",
    "42",
    '"text"',
    "[1,  2]",
    DOUBLE,
    "null",
    "true",
    '{"ключ": "значение ✓"}',
]
# A text column may hold what no JSON column can.
TEXT_ONLY = ["not json", '{"a": 1', "", '{"a":1} x']
KINDS = ("jsonb", "json", "text")


@pytest.fixture(scope="module")
def pgdb(postgres):
    return postgres.create_database("jsonmend_repair")


def values_for(kind, nullable):
    values = list(JSON_VALUES) + (TEXT_ONLY if kind == "text" else [])
    return values + ([None, None] if nullable else [])


def make_table(postgres, pgdb, name, kind, nullable=True, rows=None, extra_ddl=""):
    """A fresh table `name` (id, m <kind>, note, updated_at) filled with `rows` (default: values_for)."""
    rows = values_for(kind, nullable) if rows is None else rows
    with postgres.connect(pgdb) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(name)))
        for suffix in ("_jsonmend_quarantine", "_jsonmend_runs"):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name + suffix)))
        conn.execute(
            "CREATE TABLE %s (id bigint PRIMARY KEY, m %s %s, note text NOT NULL DEFAULT 'n', updated_at timestamptz NOT NULL DEFAULT '2026-01-01')"
            % (name, kind, "" if nullable else "NOT NULL")
        )
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO %s (id, m) VALUES (%%s, %%s::%s)" % (name, kind), [(i + 1, v) for i, v in enumerate(rows)])
        if extra_ddl:
            conn.execute(extra_ddl)
    return name


def content(postgres, pgdb, table, columns="id, m::text, m IS NULL, note, updated_at"):
    """The whole table, row by row, as text (json and text exactly, jsonb canonically)."""
    with postgres.connect(pgdb) as conn:
        return conn.execute("SELECT %s FROM %s ORDER BY id" % (columns, table)).fetchall()


def classes(postgres, pgdb, table):
    """{id: 'object', 'sql null' or 'other'} of the column, parsed in Python."""
    out = {}
    for key, text, _null, _note, _ts in content(postgres, pgdb, table):
        if text is None:
            out[key] = "sql null"
            continue
        try:
            out[key] = "object" if isinstance(json.loads(text), dict) else "other"
        except ValueError:
            out[key] = "other"
    return out


def run(postgres, pgdb, table, check_mode=False, **extra):
    return r.execute(postgres, pgdb, check_mode=check_mode, table=table, column="m", primary_key="id", timestamp_column="updated_at", **extra)


def ledger_tables(postgres, pgdb, table):
    with postgres.connect(pgdb) as conn:
        return [row[0] for row in conn.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s ORDER BY 1", (table + "_jsonmend_%",))]


@pytest.mark.parametrize("nullable", [True, False], ids=["null", "not-null"])
@pytest.mark.parametrize("kind", KINDS)
def test_repair_then_undo_round_trips_the_whole_table(postgres, pgdb, kind, nullable):
    table = make_table(postgres, pgdb, "rt_%s_%s" % (kind, "n" if nullable else "nn"), kind, nullable)
    before = content(postgres, pgdb, table)
    corrupt = sum(1 for c in classes(postgres, pgdb, table).values() if c == "other")
    result = run(postgres, pgdb, table, chunk_size=3)
    assert result["status"] == "finished" and result["rows_changed"] == corrupt, result
    assert result["unwritable"]["rows"] == 0
    after = classes(postgres, pgdb, table)
    assert set(after.values()) <= ({"object", "sql null"} if nullable else {"object"}), after
    # The double-encoded object is unwrapped losslessly (its text byte for byte on json and text).
    double = JSON_VALUES.index(DOUBLE) + 1
    row = dict((k, t) for k, t, *_rest in content(postgres, pgdb, table))[double]
    assert json.loads(row) == {"question_id": 9, "ü": "✓"}
    if kind != "jsonb":
        assert row == json.loads(DOUBLE)
    # Rows that were neither objects nor SQL NULL: NULL on a nullable column, {} on a NOT NULL one.
    number = JSON_VALUES.index("42") + 1
    assert dict((k, t) for k, t, *_rest in content(postgres, pgdb, table))[number] == (None if nullable else "{}")
    assert result["binlog"]["logged"] and "WAL" in result["binlog"]["message"]
    assert sorted(ledger_tables(postgres, pgdb, table)) == [table + "_jsonmend_quarantine", table + "_jsonmend_runs"]
    again = run(postgres, pgdb, table)
    assert again["rows_changed_now"] == 0
    undo = run(postgres, pgdb, table, mode="undo", chunk_size=4)
    assert undo["status"] == "finished" and undo["restored"] == corrupt and undo["conflicts"] == 0, undo
    assert content(postgres, pgdb, table) == before
    status = run(postgres, pgdb, table, mode="status")
    kinds = sorted((run_["kind"], run_["status"]) for run_ in status["runs"])
    assert kinds == [("repair", "finished"), ("undo", "finished")] and status["undo"]["quarantined_rows"] == corrupt


def test_undo_keeps_the_rows_changed_since_the_repair(postgres, pgdb):
    table = make_table(postgres, pgdb, "conflicts", "jsonb")
    result = run(postgres, pgdb, table)
    assert result["rows_changed"] > 2
    with postgres.connect(pgdb) as conn:
        conn.execute("UPDATE conflicts SET m = '{\"newer\": 1}' WHERE id = 3")  # the column changed since
        conn.execute("UPDATE conflicts SET note = 'app wrote' WHERE id = 4")  # another column of a repaired row
        conn.execute("DELETE FROM conflicts WHERE id = 5")
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["status"] == "finished" and undo["conflicts"] == 3, undo
    assert undo["restored"] == result["rows_changed"] - 3
    reasons = sorted(c["reason"].split(" (")[0] for c in undo["conflict_samples"])
    assert reasons == ["changed since the repair", "row deleted since the repair", "the row was written since the repair"]
    rows = dict((k, t) for k, t, *_rest in content(postgres, pgdb, table))
    assert rows[3] == '{"newer": 1}' and rows[4] is None and 5 not in rows
    assert rows[6] == "[1, 2]"  # restored (jsonb's canonical text)


def test_check_mode_changes_nothing(postgres, pgdb):
    table = make_table(postgres, pgdb, "checked", "text")
    before = content(postgres, pgdb, table)
    result = run(postgres, pgdb, table, check_mode=True)
    assert result["rows_changed_now"] > 0 and "check mode" in result["statistics"]
    assert content(postgres, pgdb, table) == before and ledger_tables(postgres, pgdb, table) == []


def test_a_trigger_that_refuses_the_repaired_value_is_reported_and_its_rows_kept(postgres, pgdb):
    ddl = (
        "CREATE OR REPLACE FUNCTION no_empty() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.m = '{}'::jsonb THEN RAISE EXCEPTION 'empty objects are refused'; END IF;"
        " NEW.updated_at = '2027-02-02'; RETURN NEW; END $$;"
        " CREATE TRIGGER guarded_no_empty BEFORE UPDATE ON guarded FOR EACH ROW EXECUTE FUNCTION no_empty()"
    )
    table = make_table(postgres, pgdb, "guarded", "jsonb", nullable=False, extra_ddl=ddl)
    before = dict((row[0], row) for row in content(postgres, pgdb, table))
    result = run(postgres, pgdb, table)
    assert result["status"] == "finished"
    # Only the double-encoded object is written (unwrapped); every {} is refused by the trigger.
    assert result["rows_changed"] == 1 and result["unwritable"]["rows"] == 6, result["unwritable"]
    assert any("empty objects are refused" in reason for reason in result["unwritable"]["by_reason"])
    after = dict((row[0], row) for row in content(postgres, pgdb, table))
    double = JSON_VALUES.index(DOUBLE) + 1
    assert [k for k in after if after[k] != before[k]] == [double]
    assert str(after[double][4]).startswith("2027-02-02")  # the trigger's updated_at, read back
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["restored"] == 1 and undo["conflicts"] == 0
    restored = content(postgres, pgdb, table)
    assert [row[:4] for row in restored] == [before[k][:4] for k in sorted(before)]


def test_a_trigger_touching_updated_at_round_trips_the_column(postgres, pgdb):
    ddl = (
        "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at = clock_timestamp(); RETURN NEW; END $$;"
        " CREATE TRIGGER touched_touch BEFORE UPDATE ON touched FOR EACH ROW EXECUTE FUNCTION touch()"
    )
    table = make_table(postgres, pgdb, "touched", "json", extra_ddl=ddl)
    before = content(postgres, pgdb, table, "id, m::text, note")
    result = run(postgres, pgdb, table)
    assert result["status"] == "finished" and result["rows_changed"] > 0
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["restored"] == result["rows_changed"] and undo["conflicts"] == 0
    assert content(postgres, pgdb, table, "id, m::text, note") == before


def test_a_row_a_trigger_writes_back_corrupt_is_reported_and_the_rest_of_its_chunk_repaired(postgres, pgdb):
    # The chunk's one read-back finds the row; the chunk is done again row by row, so only that row is kept.
    ddl = (
        "CREATE OR REPLACE FUNCTION spoil() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.id = 4 THEN NEW.m = '[1]'::jsonb; END IF; RETURN NEW; END $$;"
        " CREATE TRIGGER spoiled_spoil BEFORE UPDATE ON spoiled FOR EACH ROW EXECUTE FUNCTION spoil()"
    )
    table = make_table(postgres, pgdb, "spoiled", "jsonb", extra_ddl=ddl)
    before = dict((row[0], row) for row in content(postgres, pgdb, table))
    result = run(postgres, pgdb, table)
    assert result["status"] == "finished" and result["unwritable"]["rows"] == 1, result["unwritable"]
    assert [s["id"] for s in result["unwritable"]["samples"]] == [4]
    assert "reads back as ARRAY" in result["unwritable"]["samples"][0]["reason"]
    after = classes(postgres, pgdb, table)
    assert after[4] == "other" and content(postgres, pgdb, table)[3] == before[4]
    assert [k for k, v in after.items() if v == "other"] == [4]
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["restored"] == result["rows_changed"] and undo["conflicts"] == 0
    assert content(postgres, pgdb, table) == [before[k] for k in sorted(before)]


def test_an_after_trigger_rewriting_the_row_leaves_the_post_image_undo_compares_against(postgres, pgdb):
    # The UPDATE returns the row as it wrote it; an AFTER trigger's own UPDATE changes it again. The
    # quarantine must hold what the row holds after both, or the undo would see every row as changed since.
    ddl = (
        "CREATE OR REPLACE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.note = 'n' THEN UPDATE stamped SET note = 'stamped' WHERE id = NEW.id; END IF; RETURN NULL; END $$;"
        " CREATE TRIGGER stamped_stamp AFTER UPDATE ON stamped FOR EACH ROW EXECUTE FUNCTION stamp()"
    )
    table = make_table(postgres, pgdb, "stamped", "jsonb", extra_ddl=ddl)
    before = content(postgres, pgdb, table, "id, m::text, m IS NULL")
    result = run(postgres, pgdb, table)
    assert result["status"] == "finished" and result["rows_changed"] > 0 and result["unwritable"]["rows"] == 0
    notes = set(row[0] for row in content(postgres, pgdb, table, "note") if row[0] != "n")
    assert notes == {"stamped"}
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["restored"] == result["rows_changed"] and undo["conflicts"] == 0
    assert content(postgres, pgdb, table, "id, m::text, m IS NULL") == before


def test_a_second_concurrent_run_is_refused(postgres, pgdb, tmp_path):
    table = make_table(postgres, pgdb, "locked", "jsonb")
    pause, progress = tmp_path / "holder.pause", tmp_path / "holder.progress"
    pause.touch()
    args = r.module_args(postgres, pgdb, table=table, column="m", primary_key="id", pause_file=str(pause), progress_file=str(progress), throttle_interval=0.05)
    holder = r.spawn("json_type_repair", args, tmp_path, name="holder")
    try:
        deadline = time.time() + 60
        while not (progress.exists() and "pause file" in progress.read_text()):
            assert holder.poll() is None and time.time() < deadline, holder.communicate()[1][-2000:]
            time.sleep(0.05)
        before = content(postgres, pgdb, table)
        for mode in ("repair", "undo"):
            with pytest.raises(JsonmendError) as refused:
                run(postgres, pgdb, table, mode=mode)
            assert "another jsonmend run is already working on %s.public.locked" % pgdb in str(refused.value)
            assert "by backend pid" in str(refused.value) and "nothing was changed" in str(refused.value)
        assert content(postgres, pgdb, table) == before
        pause.unlink()
        rc, result, err = r.finish(holder)
        assert rc == 0 and result["status"] == "finished", (result, err)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(30)
    # Released with the holder's connection: the next run takes the lock.
    assert run(postgres, pgdb, table)["rows_changed_now"] == 0


def test_kill_9_mid_repair_then_resume_accounts_for_every_row(postgres, pgdb, tmp_path):
    rows = [JSON_VALUES[i % len(JSON_VALUES)] for i in range(300)]
    table = make_table(postgres, pgdb, "killed", "json", rows=rows)
    before = content(postgres, pgdb, table)
    corrupt = sorted(k for k, c in classes(postgres, pgdb, table).items() if c == "other")
    progress = tmp_path / "killed.progress"
    args = r.module_args(
        postgres,
        pgdb,
        table=table,
        column="m",
        primary_key="id",
        chunk_size=7,
        chunk_time=0,
        chunk_sleep=0.05,
        progress_file=str(progress),
        progress_interval=0,
    )
    victim = r.spawn("json_type_repair", args, tmp_path, name="victim")
    deadline = time.time() + 60
    with postgres.connect(pgdb) as conn:
        while True:
            assert victim.poll() is None and time.time() < deadline, victim.communicate()[1][-2000:]
            found = conn.execute("SELECT to_regclass('killed_jsonmend_quarantine') IS NOT NULL").fetchone()[0]
            if found and conn.execute("SELECT count(*) FROM killed_jsonmend_quarantine").fetchone()[0] >= 20:
                break
            time.sleep(0.02)
    victim.kill()
    victim.wait(30)
    with postgres.connect(pgdb) as conn:
        partial = conn.execute("SELECT count(*) FROM killed_jsonmend_quarantine").fetchone()[0]
        assert 0 < partial < len(corrupt)
        # Every changed row has its pre-image: nothing repaired without a quarantine row.
        repaired = [k for k, c in classes(postgres, pgdb, table).items() if k in corrupt and c != "other"]
        assert len(repaired) == partial
    result = run(postgres, pgdb, table)
    assert result["resumed"] and result["status"] == "finished"
    assert result["rows_changed"] == len(corrupt) and result["rows_changed_now"] == len(corrupt) - partial
    with postgres.connect(pgdb) as conn:
        keys = [row[0] for row in conn.execute("SELECT row_pk FROM killed_jsonmend_quarantine WHERE failure IS NULL ORDER BY row_pk")]
    assert keys == corrupt
    assert "other" not in classes(postgres, pgdb, table).values()
    undo = run(postgres, pgdb, table, mode="undo")
    assert undo["restored"] == len(corrupt)
    assert content(postgres, pgdb, table) == before


def test_a_missing_privilege_is_refused_naming_the_grant(postgres, pgdb):
    table = make_table(postgres, pgdb, "granted", "jsonb")
    before = content(postgres, pgdb, table)
    with postgres.connect(pgdb) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("CREATE ROLE reader LOGIN PASSWORD 'Reader-pw-1'")
        conn.execute("GRANT SELECT ON granted TO reader")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    with pytest.raises(JsonmendError) as refused:
        run(postgres, pgdb, table, login_user="reader", login_password="Reader-pw-1")
    message = str(refused.value)
    assert 'GRANT UPDATE ON "public"."granted" TO "reader"' in message, message
    assert 'GRANT CREATE ON SCHEMA "public" TO "reader"' in message and "nothing was changed" in message
    assert content(postgres, pgdb, table) == before and ledger_tables(postgres, pgdb, table) == []


def test_a_schema_qualified_table_gets_its_bookkeeping_in_its_schema(postgres, pgdb):
    with postgres.connect(pgdb) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS app")
        conn.execute("DROP TABLE IF EXISTS app.events2, app.events2_jsonmend_quarantine, app.events2_jsonmend_runs")
        conn.execute('CREATE TABLE app.events2 (id int PRIMARY KEY, "Meta" jsonb NOT NULL)')
        conn.execute("""INSERT INTO app.events2 VALUES (1, '{"x": 1}'), (2, '5'), (3, '"{\\"y\\": 2}"')""")
    before = content(postgres, pgdb, "app.events2", 'id, "Meta"::text')
    result = r.execute(postgres, pgdb, table="app.events2", column="Meta", primary_key="id", timestamp_column="id")
    assert result["rows_changed"] == 2 and result["quarantine_table"] == "events2_jsonmend_quarantine"
    assert content(postgres, pgdb, "app.events2", 'id, "Meta"::text') == [(1, '{"x": 1}'), (2, "{}"), (3, '{"y": 2}')]
    undo = r.execute(postgres, pgdb, table="app.events2", column="Meta", primary_key="id", timestamp_column="id", mode="undo")
    assert undo["restored"] == 2
    assert content(postgres, pgdb, "app.events2", 'id, "Meta"::text') == before


def test_replica_lag_is_read_from_the_primary_or_the_configured_query(postgres, pgdb):
    table = make_table(postgres, pgdb, "lagged", "jsonb")
    before = content(postgres, pgdb, table)
    # The primary itself listed: pg_stat_replication is empty and it is no standby.
    with pytest.raises(JsonmendError) as refused:
        run(postgres, pgdb, table, replicas=[dict(name="primary")], max_replica_lag=5)
    assert "has no streaming replica (pg_stat_replication is empty)" in str(refused.value)
    assert content(postgres, pgdb, table) == before
    # A lag query (a heartbeat table's, here a constant) over the limit throttles until max_throttle_time.
    with pytest.raises(JsonmendError) as throttled:
        run(
            postgres,
            pgdb,
            table,
            replicas=[dict(name="standby")],
            max_replica_lag=5,
            replica_lag_query="SELECT 60.0",
            max_throttle_time=0.5,
            throttle_interval=0.1,
        )
    assert "replica standby lags 60.0s > 5.0s" in str(throttled.value)
    assert content(postgres, pgdb, table) == before
    ok = run(postgres, pgdb, table, replicas=[dict(name="standby")], max_replica_lag=5, replica_lag_query="SELECT 0.5")
    assert ok["status"] == "finished" and ok["rows_changed"] > 0
