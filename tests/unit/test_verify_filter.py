# The verify role's judgement of its registered results.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_verify import verify_result

RELEASE = "f" * 40
SCAN = {"corrupted_rows": 0, "total_rows": 100, "by_type": {"OBJECT": 90}}
COMMANDS = {"results": [{"rc": 0, "stdout": "ok", "stderr": ""}, {"rc": 0, "stdout": "ok", "stderr": ""}]}
HEALTH = {"status": 200, "url": "http://app/health/", "json": {"release": RELEASE}}
SMOKE = {"status": 201, "json": {"id": 7}}
ROW = {"rows": [{"key": 7, "class": "OBJECT"}], "missing": []}
LOGS = {"path": "/log", "offset": 10, "size": 20, "lines_scanned": 2, "match_count": 0, "counts": {"Traceback": 0}, "matches": []}
ALL = ["scan", "commands", "health", "smoke", "logs"]


def judge(**overrides):
    args = dict(
        scan=SCAN,
        max_corrupted=0,
        commands=COMMANDS,
        command_names=["a", "b"],
        health=HEALTH,
        expected_release=RELEASE,
        smoke=SMOKE,
        smoke_row=ROW,
        logs=LOGS,
        cleanup_ran=True,
    )
    args.update(overrides)
    return verify_result(ALL, **args)


def test_everything_passes():
    result = judge()
    assert result["passed"] and result["failures"] == []
    assert result["lines"][0] == "✓ scan: 0 corrupted row(s) (limit 0)"


@pytest.mark.parametrize(
    ("overrides", "failure"),
    [
        ({"scan": dict(SCAN, corrupted_rows=3)}, "scan: the re-scan found 3 corrupted row(s); 0 are allowed after a cleanup"),
        ({"scan": dict(SCAN, corrupted_rows=3), "max_corrupted": 2, "cleanup_ran": False}, "at most 2 allowed"),
        ({"scan": {"failed": True, "msg": "Access denied"}}, "scan: the re-scan failed: Access denied"),
        ({"commands": {"results": [{"rc": 0}, {"rc": 1, "stderr": "Traceback\nNameError: x"}]}}, "commands: manage.py b exited 1: NameError: x"),
        ({"commands": {"results": [{"rc": 0}]}}, "commands: manage.py b did not run"),
        ({"health": dict(HEALTH, status=503, msg="Service Unavailable")}, "health: http://app/health/ answered 503"),
        ({"health": dict(HEALTH, json={"release": "0" * 40})}, "expected " + RELEASE),
        ({"smoke": {"status": 400, "json": {"error": "nope"}}}, "smoke: the quiz answer was refused: HTTP 400"),
        ({"smoke_row": {"rows": [{"key": 7, "class": "DOUBLE"}]}}, "stored metadata of class DOUBLE, not an object"),
        ({"smoke_row": {"rows": [], "missing": [7]}}, "(row missing)"),
        ({"logs": dict(LOGS, match_count=1, counts={"Traceback": 1}, matches=[{"text": "Traceback (most recent call last):"}])}, "Traceback x1"),
    ],
)
def test_each_failure_is_named(overrides, failure):
    result = judge(**overrides)
    assert not result["passed"]
    assert any(failure in f for f in result["failures"]), result["failures"]


def test_check_mode_skips_what_would_change_and_cannot_judge_the_cleanup():
    skipped = {"results": [{"skipped": True}, {"skipped": True}]}
    result = judge(scan=dict(SCAN, corrupted_rows=5), commands=skipped, smoke={"skipped": True}, smoke_row=None, check_mode=True)
    assert result["passed"], result["failures"]
    assert result["checks"]["smoke"]["skipped"] and result["checks"]["commands"][0]["skipped"]


def test_only_the_requested_checks_run():
    result = verify_result(["health"], health=HEALTH, expected_release=RELEASE)
    assert list(result["checks"]) == ["health"] and result["passed"]
    with pytest.raises(AnsibleFilterError, match="unknown check"):
        verify_result(["health", "vibes"])
