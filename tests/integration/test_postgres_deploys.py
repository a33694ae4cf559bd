# The deploy records (repair/deploys.py, db_deploy_state) on the throwaway PostgreSQL: the table is
# created in the target's schema, a record is written and rewritten (upsert), marked by a rollback
# and read back newest first, whatever the spelling of the table name.
import db_deploy_state
import pytest


@pytest.fixture(scope="module")
def pgdb(postgres):
    name = postgres.create_database("jsonmend_deploys")
    with postgres.connect(name) as conn:
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.events (id bigint PRIMARY KEY, m jsonb)")
    return name


def record(outcome, target):
    return dict(outcome=outcome, release=dict(previous="a" * 40, target=target, new=None), repair=dict(run_id="r-1"), run=dict(id="ignored"))


def test_records_are_written_rewritten_marked_and_read(postgres, pgdb, module_runner):
    base = dict(postgres.login_params(pgdb), table="app.events", column="m")
    first = module_runner(db_deploy_state, dict(base, mode="write", run_id="d-1", record=record("in_progress", "b" * 40)))
    assert not first.failed and first["deploys_table"] == "app.events_jsonmend_deploys", first.get("msg")
    again = module_runner(db_deploy_state, dict(base, mode="write", run_id="d-1", record=record("deployed", "b" * 40)))
    assert not again.failed and again["row"]["status"] == "deployed", again.get("msg")
    module_runner(db_deploy_state, dict(base, mode="write", run_id="d-2", record=record("deployed", "c" * 40)))
    marked = module_runner(db_deploy_state, dict(base, mode="mark", run_id="d-1", status="rolled_back", marked_by="rollback r-9"))
    assert not marked.failed and marked["changed"] is True, marked.get("msg")
    unchanged = module_runner(db_deploy_state, dict(base, mode="mark", run_id="d-1", status="rolled_back", marked_by="rollback r-9"))
    assert unchanged["changed"] is False
    read = module_runner(db_deploy_state, dict(base, mode="read"))
    assert not read.failed, read.get("msg")
    assert len(read["records"]) == 2
    statuses = sorted((r["db_status"], r["outcome"], r.get("marked", {}).get("by")) for r in read["records"])
    assert statuses == [("deployed", "deployed", None), ("rolled_back", "deployed", "rollback r-9")]
    with postgres.connect(pgdb) as conn:
        assert conn.execute("SELECT count(*) FROM app.events_jsonmend_deploys WHERE table_name = 'app.events'").fetchone()[0] == 2
        indexes = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'app' AND tablename = 'events_jsonmend_deploys'")]
    assert "events_jsonmend_deploys_target_started" in indexes
