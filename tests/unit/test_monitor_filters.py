# The monitor's memory: where each log is resumed (rotation included), and which findings are
# new, so a schedule reports each one once.
import pytest

from filter_plugins.jsonmend_monitor import monitor_judge, monitor_rolled_back, monitor_watch, monitor_watching

LOG = "/var/log/django/error.log"


def scan_result(count, size, line="2026-11-27 00:10:00,001 WARNING analytics: ValidationError on ActivityEvent"):
    return dict(
        path=LOG, exists=True, size=size, match_count=count, counts={"ValidationError.*ActivityEvent": count}, matches=[dict(line=1, text=line)] * count
    )


def hosts(count, size):
    return {"app1": dict(path=LOG, inode=7, size=size, results=[scan_result(count, size)] if count is not None else [])}


NAMES = {"ValidationError.*ActivityEvent": "ValidationError on ActivityEvent"}


def test_each_finding_is_alerted_once():
    first = monitor_judge({}, hosts(1, 120), dict(corrupted_rows=2, total_rows=10, by_type={"INTEGER": 2, "OBJECT": 8}), "", "run-1", "t1", names=NAMES)
    assert first["alert"] and first["summary"] == "1 new error log entry; 2 corrupted row(s)"
    assert "ValidationError on ActivityEvent: 1" in first["message"] and "INTEGER 2" in first["message"]
    assert first["state"]["logs"]["app1"] == dict(path=LOG, inode=7, offset=120)
    # Nothing new in the log, the same count: quiet.
    second = monitor_judge(first["state"], hosts(0, 120), dict(corrupted_rows=2), "", "run-1", "t2", names=NAMES)
    assert not second["alert"] and second["summary"] == "nothing new"
    # Fewer rows, then more again: the rise alerts again.
    third = monitor_judge(second["state"], hosts(0, 120), dict(corrupted_rows=1), "", "run-1", "t3")
    assert not third["alert"] and third["state"]["scan"]["alerted_corrupted_rows"] == 1
    fourth = monitor_judge(third["state"], hosts(0, 120), dict(corrupted_rows=2), "", "run-1", "t4")
    assert fourth["alert"] and "(1 when last reported)" in fourth["message"]
    # A new deploy starts a new watch: the remaining rows are reported once for it.
    fifth = monitor_judge(fourth["state"], hosts(0, 120), dict(corrupted_rows=2), "", "run-2", "t5")
    assert fifth["alert"] and fifth["state"]["deploy_run_id"] == "run-2"


def test_a_failing_scan_alerts_once_until_it_works():
    first = monitor_judge({}, hosts(0, 0), None, "Can't connect to MySQL server", "run-1", "t1")
    assert first["alert"] and "the re-scan FAILED: Can't connect" in first["message"]
    second = monitor_judge(first["state"], hosts(0, 0), None, "Can't connect to MySQL server", "run-1", "t2")
    assert not second["alert"]
    third = monitor_judge(second["state"], hosts(0, 0), dict(corrupted_rows=0), "", "run-1", "t3")
    assert not third["alert"] and third["state"]["scan"]["error"] is None


@pytest.mark.parametrize(
    "finished, hours, watching",
    [("2026-11-27T00:00:00Z", 24, True), ("2026-11-25T00:00:00Z", 24, False), ("2026-11-25T00:00:00Z", 0, True), (None, 24, True)],
)
def test_watch_window(finished, hours, watching):
    deploy = dict(run=dict(id="r"), release=dict(finished_at=finished)) if finished else {}
    assert monitor_watching(deploy, hours, "2026-11-27T12:00:00Z")["watching"] is watching


# A deploy that was rolled back is not watched (issue 15, item 7).
TARGET = {"database": "app", "table": "analytics_activityevent"}


def deploy_record(run_id, started, outcome="deployed", check=False, table="analytics_activityevent"):
    run = dict(id=run_id, started_at=started, check_mode=check, target=dict(database="app", table=table))
    return dict(outcome=outcome, run=run, release=dict(finished_at=started))


def run_record(run_id, started, playbook="rollback.yml", outcome="rolled_back", check=False, table="analytics_activityevent"):
    return dict(run_id=run_id, playbook=playbook, outcome=outcome, started_at=started, check_mode=check, target=dict(database="app", table=table))


def test_a_deploy_rolled_back_by_rollback_yml_is_not_watched():
    deploy = deploy_record("d1", "2026-01-01T10:00:00Z")
    later = run_record("r1", "2026-01-01T11:00:00Z")
    reason = monitor_rolled_back(deploy, [deploy], [later], TARGET)
    assert reason == "deploy d1 was rolled back by run r1 (rollback.yml at 2026-01-01T11:00:00Z): nothing to watch"
    assert monitor_watch(deploy, 24, reason, now="2026-01-01T12:00:00Z") == dict(watching=False, reason=reason)
    # A permanent watch (window 0) watches whatever the deploys.
    assert monitor_watch(deploy, 0, reason)["watching"] is True


@pytest.mark.parametrize(
    "record",
    [
        run_record("r0", "2026-01-01T09:00:00Z"),  # a rollback before the deploy
        run_record("r1", "2026-01-01T11:00:00Z", check=True),  # a dry run
        run_record("r1", "2026-01-01T11:00:00Z", outcome="success"),  # nothing to put back
        run_record("r1", "2026-01-01T11:00:00Z", table="other"),  # another table
        run_record("r1", "2026-01-01T11:00:00Z", playbook="cleanup.yml"),
    ],
)
def test_other_runs_do_not_stop_the_watch(record):
    deploy = deploy_record("d1", "2026-01-01T10:00:00Z")
    assert monitor_rolled_back(deploy, [deploy], [record], TARGET) == ""
    assert monitor_watch(deploy, 24, "", now="2026-01-01T12:00:00Z")["watching"] is True


def test_a_deploy_that_rolled_itself_back_leaves_nothing_to_watch():
    failed = deploy_record("d2", "2026-01-01T10:00:00Z", outcome="rolled_back")
    reason = monitor_rolled_back({}, [failed], [], TARGET)
    assert reason == "deploy d2 failed and was rolled back at once (2026-01-01T10:00:00Z): nothing to watch"
    assert monitor_watch({}, 24, reason)["watching"] is False
    # An older deploy still in place is watched as before.
    older = deploy_record("d1", "2026-01-01T08:00:00Z")
    assert monitor_rolled_back(older, [older, failed], [], TARGET) == ""
