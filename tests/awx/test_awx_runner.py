# The job templates of awx/configure.yml, launched through ansible-runner as AWX launches them
# (tests/support/awx_runner.py) against the session's MariaDB: the runner's status, rc and
# events, the set_stats artifacts a workflow hands downstream, the run record's AWX facts, and
# not one occurrence of the database password in the artifacts.
import json
import sys

import pytest

from tests.support.awx_runner import launch
from tools.devstack import seed
from tools.devstack.mariadb_server import TOOL_PASSWORD

CORRUPT = 12  # strategy B's range (1-50)


@pytest.fixture(scope="module")
def awx_db(mariadb):
    """A table with CORRUPT corrupted rows among 2,000, shared by the jobs of this module."""
    name = "awx_" + __import__("uuid").uuid4().hex[:10]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
        cur.execute("USE `%s`" % name)
        seed.create_table(cur)
        seed.seed(cur, 2000 - CORRUPT, corrupt_percent=0, null_percent=5)
        seed.insert_rows(cur, [(7, "quiz_answer_submitted", "3.5", "2026-11-02 10:00:00")] * CORRUPT)
    yield name
    if mariadb.process is not None:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return tmp_path_factory.mktemp("awx-site")


@pytest.fixture(scope="module")
def job(awx_job_templates, awx_credential_type, mariadb, awx_db, site):
    """Launch a job template by short name, with the inputs of a credential on the test server
    and an inventory whose variables put files under `site`."""
    inputs = dict(host="127.0.0.1", port=str(mariadb.port), username="jsonmend", password=TOOL_PASSWORD, database=awx_db)
    inventory_vars = dict(
        jsonmend_environment="awx-test",
        jsonmend_db_config_file="",
        jsonmend_report_dir=str(site / "reports"),
        backup_dir=str(site / "backups"),
        backup_create_dir=True,
        metrics_textfile_dir=str(site / "prom"),
    )
    # The execution environment's Python (PyMySQL) runs the modules; here, this virtualenv's.
    host_vars = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)

    def run(name, **kwargs):
        return launch(awx_job_templates[name], awx_credential_type, inputs, site, host_vars=host_vars, inventory_vars=inventory_vars, **kwargs)

    return run


@pytest.fixture(scope="module")
def diagnose(job):
    return job("Diagnose")


def failed_tasks(result):
    return result.tasks("runner_on_failed")


def assert_no_password(result):
    files = result.artifact_files()
    assert files, "no artifacts written"
    leaks = [str(p.relative_to(result.artifacts)) for p in files if TOOL_PASSWORD in p.read_text(errors="replace")]
    assert leaks == [], "the database password is in %s" % leaks
    assert TOOL_PASSWORD not in result.stdout


def test_diagnose_runs_as_awx_runs_it(diagnose, site):
    assert (diagnose.status, diagnose.rc) == ("successful", 0), diagnose.stdout[-4000:]
    assert failed_tasks(diagnose) == []
    ok = diagnose.tasks("runner_on_ok")
    assert "Publish diagnose_scan" in ok and "Publish the diagnosis for the next workflow node" in ok
    assert "Publish backup_manifest" not in diagnose.tasks("runner_on_ok")  # read-only: the template sets jsonmend_backup=false
    stats = diagnose.artifact_data["jsonmend_diagnosis"]
    assert (stats["corrupted_rows"], stats["total_rows"], stats["strategy"], stats["range"]) == (CORRUPT, 2000, "B", "1-50")
    assert stats["awx_job_id"] == 4242 and stats["check_mode"] is False
    record = json.loads((site / "reports" / stats["run_id"] / "record.json").read_text())
    assert record["awx_job_id"] == 4242 and record["operator"] == "ops-alice"
    assert_no_password(diagnose)


def test_the_job_was_laid_out_as_awx_lays_it_out(diagnose):
    extravars = (diagnose.pdd / "env" / "extravars").read_text()
    assert "jsonmend_backup: false\n" in extravars  # the template's own value: plain
    assert "!unsafe 'awx_user_name': !unsafe 'ops-alice'" in extravars  # the rest, keys too: never rendered as Jinja
    assert "jsonmend_db" not in extravars
    (credential_file,) = [p for p in (diagnose.pdd / "env").iterdir() if p.name.startswith("tmp")]
    assert oct(credential_file.stat().st_mode & 0o777) == "0o400"
    assert "!unsafe 'jsonmend_db_password': !unsafe" in credential_file.read_text()
    command = json.loads((diagnose.artifacts / "command").read_text())
    assert "@%s" % credential_file in command["command"] and "ansible-playbook" in command["command"][0]


def test_diagnose_as_job_type_check_writes_nothing_but_still_hands_over(job, site):
    before = sorted(p.name for p in (site / "reports").iterdir()) if (site / "reports").exists() else []
    result = job("Diagnose", job_type="check", job_id=4243)
    assert (result.status, result.rc) == ("successful", 0), result.stdout[-4000:]
    stats = result.artifact_data["jsonmend_diagnosis"]
    assert stats["check_mode"] is True and stats["corrupted_rows"] == CORRUPT
    after = sorted(p.name for p in (site / "reports").iterdir()) if (site / "reports").exists() else []
    assert after == before
    assert_no_password(result)


def test_backup_from_its_survey(job, site):
    result = job("Backup", answers={"jsonmend_backup_scope": "table"}, job_id=4244)
    assert (result.status, result.rc) == ("successful", 0), result.stdout[-4000:]
    assert failed_tasks(result) == []
    dumps = list((site / "backups").glob("*.sql.gz"))
    assert len(dumps) == 1
    manifest = json.loads(dumps[0].with_name(dumps[0].name.replace(".sql.gz", ".manifest.json")).read_text())
    assert manifest["verified"] is True and manifest["scope"] == "table"
    assert_no_password(result)


def test_weekly_check_fails_the_job_on_corruption(job, site):
    result = job("Weekly check", job_id=4245)
    assert (result.status, result.rc) == ("failed", 2)
    assert failed_tasks(result) == ["Fail when any row is corrupted"]
    assert list((site / "prom").glob("jsonmend_*.prom"))
    assert_no_password(result)


def test_deploy_refuses_when_the_table_changed_since_the_approved_diagnosis(job, diagnose, mariadb, awx_db):
    # The workflow: Diagnose found 12 rows (B) and was approved; meanwhile 50 more went bad (C).
    with mariadb.admin(awx_db) as conn, conn.cursor() as cur:
        seed.insert_rows(cur, [(8, "quiz_completed", "[1, 2]", "2026-11-03 10:00:00")] * 50)
        cur.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
        before = cur.fetchone()[1]
        try:
            answers = {"jsonmend_strategy": "auto", "jsonmend_confirm": "yes"}
            result = job("Deploy", answers=answers, upstream=diagnose.artifact_data, job_id=4246)
            cur.execute("CHECKSUM TABLE analytics_activityevent EXTENDED")
            after = cur.fetchone()[1]
        finally:
            cur.execute("DELETE FROM analytics_activityevent WHERE user_id = 8 AND event_type = 'quiz_completed'")
    assert (result.status, result.rc) == ("failed", 2)
    assert failed_tasks(result) == ["Stop when the requested strategy does not fit"]
    (failure,) = [e for e in result.events if e.get("event") == "runner_on_failed"]
    message = failure["event_data"]["res"]["msg"]
    assert "strategy B does not fit: the live scan found %d" % (CORRUPT + 50) in message
    assert "The approved diagnosis (run %s) found %d" % (diagnose.artifact_data["jsonmend_diagnosis"]["run_id"], CORRUPT) in message
    assert "Nothing was changed" in message and after == before
    # Handed to the Rollback node: this run's id, whose repair (there is none) is all it may undo.
    stats = result.artifact_data
    assert stats["jsonmend_deploy"]["outcome"] == "refused" and stats["jsonmend_deploy"]["repair_run_id"] is None
    assert stats["jsonmend_rollback_run_id"] == stats["jsonmend_deploy"]["run_id"]
    assert_no_password(result)
