# The night of the deploy on PostgreSQL (issue 18): what test_deploy_night.py, test_rollback_night.py,
# test_rollback_playbooks.py and test_deploy_playbook.py prove on MariaDB, with quizsite on psycopg 3
# (metadata jsonb) and the throwaway cluster: a deploy killed half way and its re-run from another
# controller (the in_progress record read back from the database), the emergency rollback refused
# without a database backup, rollback.yml back to the first commit, monitor.yml after that rollback,
# rollback.yml's `revert`, and a rollback that fails and keeps maintenance on loudly.
# The stack, db and run fixtures are test_postgres_deploy.py's: one stack for the module, each
# test starting from v1 running and a table it seeds itself. Scenarios that can share a stack's
# state are one test, to keep the module short (each playbook run costs seconds).
import shutil

from tests.integration import test_postgres_deploy as pgdeploy
from tests.integration.test_deploy_night import kill_after_the_checkout
from tests.integration.test_deploy_playbook import rollback_failed_loudly
from tests.integration.test_rollback_playbooks import (
    emergency_rollback_refused_without_a_database_backup,
    monitor_after_a_rollback,
    rollback_to_a_ref_by_revert,
)

# pytest finds fixtures by name in the module: these are test_postgres_deploy.py's.
pgapp, stack, db, run = pgdeploy.pgapp, pgdeploy.stack, pgdeploy.db, pgdeploy.run
TABLE, CORRUPT_VALUES = pgdeploy.TABLE, pgdeploy.CORRUPT_VALUES
reseed, content, deploy_row = pgdeploy.reseed, pgdeploy.content, pgdeploy.deploy_row
migration_0002_applied, record = pgdeploy.migration_0002_applied, pgdeploy.record
CORRUPT = 20


def insert_corrupt(db, count):
    """What v1 stores again once it runs: `count` events whose metadata is not an object."""
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO %s (user_id, event_type, metadata, created_at) VALUES (%%s, 'quiz_answer_submitted', %%s::jsonb, now())" % TABLE,
            [(7 + i % 5, CORRUPT_VALUES[i % len(CORRUPT_VALUES)]) for i in range(count)],
        )


def test_half_finished_night_emergency_refusal_rollback_and_monitor(stack, db, run, tmp_path):
    """Killed deploy ─ emergency refused (no database backup) ─ re-run from another controller
    resumes it ─ rollback.yml to the first commit ─ monitor.yml: not watching, then on a permanent
    watch one alert per new finding."""
    stack.reset("v1")
    reseed(db, corrupt=0)
    killed = kill_after_the_checkout(stack, run, tmp_path)
    assert deploy_row(db, killed["run"]["id"])[:2] == ("in_progress", stack.shas["v1"])
    emergency_rollback_refused_without_a_database_backup(stack, run, tmp_path, lambda: content(db))

    # The re-run from another controller (reports/ gone): the database's in_progress record says
    # where the attempt started, so the deploy resumes it and keeps v1 as its previous commit.
    shutil.move(str(run.reports), str(tmp_path / "reports-of-the-killed-controller"))
    again = run(strategy="A")
    assert again.returncode == 0, again.stdout[-4000:]
    rec = record(run.reports)
    assert rec["outcome"] == "deployed" and rec["release"]["previous"] == stack.shas["v1"], rec["release"]
    assert rec["release"]["resumes"] == killed["run"]["id"]
    assert deploy_row(db, rec["run"]["id"]) == ("deployed", stack.shas["v1"], stack.shas["v2"])

    back = run("rollback.yml")
    out = " ".join(back.stdout.split())
    assert back.returncode == 0, back.stdout[-4000:]
    assert stack.head() == stack.shas["v1"] and stack.health()[1]["release"] == stack.shas["v1"]
    assert not migration_0002_applied(stack)
    assert "the checkout is at %s already" % stack.shas["v2"][:12] not in out
    assert deploy_row(db, rec["run"]["id"])[0] == "rolled_back"

    # v1 runs again and stores what it stored before the fix; monitor.yml watches no rolled-back deploy.
    insert_corrupt(db, CORRUPT)
    monitor_after_a_rollback(stack, run, run.reports, rec["run"]["id"], CORRUPT)


def test_rollback_to_a_ref_by_revert(stack, db, run):
    reseed(db, corrupt=0)
    rollback_to_a_ref_by_revert(stack, run)


# What a database-level guard in enforce mode does: only objects (or NULL) get in. The repair writes
# objects and NULLs and passes; the undo writes the original numbers and strings back and is refused.
OBJECTS_ONLY = (
    "CREATE FUNCTION test_objects_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF NEW.metadata IS NOT NULL AND jsonb_typeof(NEW.metadata) <> 'object' THEN RAISE EXCEPTION 'metadata must be an object'; END IF;"
    " RETURN NEW; END $$;"
    " CREATE TRIGGER test_objects_only BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION test_objects_only()" % TABLE
)


def test_failed_rollback_keeps_maintenance_on_loudly(stack, db, run):
    stack.reset("v1")
    reseed(db, corrupt=CORRUPT)
    db.execute(OBJECTS_ONLY)
    try:
        result = run(strategy="B", jsonmend_app_version="broken", rollback_restore_fallback=False)
    finally:
        db.execute("DROP TRIGGER IF EXISTS test_objects_only ON %s; DROP FUNCTION IF EXISTS test_objects_only()" % TABLE)
    assert deploy_row(db, record(run.reports)["run"]["id"])[0] == "rollback_failed"
    rollback_failed_loudly(stack, run, result, CORRUPT, "(P0001) metadata must be an object")
