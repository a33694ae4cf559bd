# The guard in the weekly check (jsonmend_guard_weekly): the clean checks in a row, the enforce
# recommendation, the state written back, and the guard's series in the metric text.
import pytest
from ansible.errors import AnsibleFilterError
from prometheus_client.parser import text_string_to_metric_families

from filter_plugins.jsonmend_record import jsonmend_guard_weekly, jsonmend_prometheus

TARGET = {"database": "app", "table": "t", "column": "m"}
KEY = "app.t.m"
CLEAN_SCAN = {"corrupted_rows": 0}


def status(mode="observe", since=0, total=0, checked_at="2026-12-07T06:00:00.000000Z", **extra):
    events = dict(total=since, all_total=total, checked_at=checked_at, by_class={"INTEGER": since} if since else {})
    return dict(installed=mode, drifted=False, events=events, **extra)


@pytest.mark.parametrize(
    "previous, result, scan, clean_checks, recommend",
    [
        (None, status(), CLEAN_SCAN, 1, False),  # the first check: the whole log, clean
        ({"mode": "observe", "clean_checks": 2, "checked_at": "x"}, status(), CLEAN_SCAN, 3, True),
        ({"mode": "observe", "clean_checks": 5, "checked_at": "x"}, status(), CLEAN_SCAN, 6, True),
        ({"mode": "observe", "clean_checks": 2, "checked_at": "x"}, status(since=1, total=1), CLEAN_SCAN, 0, False),  # it saw a write
        ({"mode": "observe", "clean_checks": 2, "checked_at": "x"}, status(), {"corrupted_rows": 1}, 0, False),  # corruption
        ({"mode": "off", "clean_checks": 0, "checked_at": "x"}, status(), CLEAN_SCAN, 1, False),  # observe since this week
        ({"mode": "observe", "clean_checks": 7, "checked_at": "x"}, status("enforce"), CLEAN_SCAN, 0, False),  # enforced already
    ],
)
def test_clean_checks_in_a_row_and_the_recommendation(previous, result, scan, clean_checks, recommend):
    state = {KEY: previous} if previous else {}
    got = jsonmend_guard_weekly(result, state, scan, TARGET, 3, "production", "r9")
    assert got["clean_checks"] == clean_checks and got["recommend"] is recommend
    assert got["command"] == ("./jsonmend guard -i inventories/production -e jsonmend_guard_mode=enforce" if recommend else "")
    assert ("recommended: enforce the guard" in got["line"]) is recommend
    entry = dict(checked_at="2026-12-07T06:00:00.000000Z", mode=result["installed"], clean_checks=clean_checks, events_total=got["events_total"], run_id="r9")
    assert got["state"][KEY] == entry
    assert got["since"] == (previous or {}).get("checked_at")


def test_the_line_names_the_window_the_classes_and_the_log():
    got = jsonmend_guard_weekly(status(since=2, total=5), {KEY: {"mode": "observe", "checked_at": "2026-11-30T06:00:00.000000Z"}}, CLEAN_SCAN, TARGET)
    assert got["line"] == (
        "Guard: observe; 2 non-object write(s) logged since the last weekly check (2026-11-30T06:00:00.000000Z) (2 INTEGER),"
        " 5 in the log; 0 of 4 clean weekly check(s) in a row"
    )
    assert jsonmend_guard_weekly(status("off"), {}, CLEAN_SCAN, TARGET)["line"] == "Guard: off (no database guard on the column)"


def test_an_unreadable_guard_is_reported_and_keeps_the_last_check_time():
    state = {KEY: {"mode": "observe", "clean_checks": 3, "checked_at": "2026-11-30T06:00:00.000000Z"}, "other.t.m": {"mode": "off"}}
    got = jsonmend_guard_weekly({"failed": True, "msg": "no\nconnection"}, state, CLEAN_SCAN, TARGET)
    assert not got["available"] and got["line"] == "Guard: unknown (could not read it: no connection)"
    assert got["state"][KEY]["checked_at"] == "2026-11-30T06:00:00.000000Z" and got["state"][KEY]["clean_checks"] == 0
    assert got["state"]["other.t.m"] == {"mode": "off"}
    assert "jsonmend_guard" not in jsonmend_prometheus(dict(CLEAN_SCAN, target=TARGET), "", got)


@pytest.mark.parametrize("needed", [0, "x", None])
def test_a_bad_number_of_checks_is_refused(needed):
    with pytest.raises(AnsibleFilterError, match="checks_needed"):
        jsonmend_guard_weekly(status(), {}, CLEAN_SCAN, TARGET, needed)


def test_the_metric_text_has_the_guard_counter_and_its_mode():
    weekly = jsonmend_guard_weekly(status(since=1, total=4), {}, CLEAN_SCAN, TARGET)
    text = jsonmend_prometheus(dict(CLEAN_SCAN, target=TARGET, total_rows=3), "prod", weekly)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["jsonmend_guard_events"].type == "counter"
    (sample,) = families["jsonmend_guard_events"].samples
    assert sample.name == "jsonmend_guard_events_total" and sample.value == 4
    assert sample.labels == {"database": "app", "table": "t", "column": "m", "environment": "prod", "mode": "observe"}
    assert {s.labels["mode"]: s.value for s in families["jsonmend_guard_mode"].samples} == {"off": 0, "observe": 1, "enforce": 0, "mixed": 0, "unknown": 0}
    assert "# HELP jsonmend_guard_events_total " in text


def test_a_guard_hidden_from_the_user_is_unknown_with_the_grant_and_never_clean():
    grant = "GRANT TRIGGER ON `app`.`t` TO 'ro'@'%'"
    hidden = dict(status("unknown"), message="the user ro@% lacks the TRIGGER privilege on app.t ... run: " + grant)
    got = jsonmend_guard_weekly(hidden, {KEY: {"mode": "observe", "clean_checks": 2, "checked_at": "x"}}, CLEAN_SCAN, TARGET, 3)
    assert got["available"] and got["mode"] == "unknown" and got["clean_checks"] == 0 and not got["recommend"]
    assert got["line"].startswith("Guard: unknown (the user ro@% lacks the TRIGGER privilege") and grant in got["line"]
    text = jsonmend_prometheus(dict(CLEAN_SCAN, target=TARGET), "", got)
    modes = {s.labels["mode"]: s.value for f in text_string_to_metric_families(text) if f.name == "jsonmend_guard_mode" for s in f.samples}
    assert modes == {"off": 0, "observe": 0, "enforce": 0, "mixed": 0, "unknown": 1}


def test_a_fleet_targets_recommendation_is_fleet_guard_limited_to_it():
    previous = {KEY: {"mode": "observe", "clean_checks": 2, "checked_at": "x"}}
    got = jsonmend_guard_weekly(status(), previous, CLEAN_SCAN, TARGET, 3, "fleet-example", "r9", "tenant03")
    assert got["command"] == "./jsonmend fleet_guard -i inventories/fleet-example --limit tenant03 -e jsonmend_guard_mode=enforce"
