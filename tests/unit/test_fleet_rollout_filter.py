# The fleet repair rollout's decisions (filter_plugins/jsonmend_fleet.py): the batches as Ansible's serial
# cuts them, when a batch stops the rollout, what each target needs, the plan and the report's statuses.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_fleet import (
    fleet_batch_failed,
    fleet_batches,
    fleet_code_plan,
    fleet_code_status,
    fleet_max_fail_percentage,
    fleet_rollout_markdown,
    fleet_rollout_plan,
    fleet_rollout_question,
    fleet_rollout_report,
    fleet_serial,
    fleet_stage,
    fleet_stage_groups,
    fleet_target_plan,
    fleet_undo_command,
)

HOSTS = ["t%02d" % i for i in range(1, 12)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, [1, "10%", "25%", "100%"]),
        ("", [1, "10%", "25%", "100%"]),
        ([1, "10%", "100%"], [1, "10%", "100%"]),
        ("1, 50 %,100%", [1, "50%", "100%"]),
        (["2", 3], [2, 3]),
        ("12.5%", ["12.5%"]),
    ],
)
def test_serial_accepts_numbers_and_percentages(value, expected):
    assert fleet_serial(value) == expected


@pytest.mark.parametrize("value", [[0], ["0%"], ["101%"], ["-1"], ["ten"], [True], "1,,2", [None]])
def test_serial_refuses_naming_the_variable(value):
    with pytest.raises(AnsibleFilterError, match="jsonmend_fleet_batches=.*Nothing was changed"):
        fleet_serial(value)


@pytest.mark.parametrize(("value", "expected"), [(0, 0), ("25", 25), (100, 100)])
def test_max_fail_percentage(value, expected):
    assert fleet_max_fail_percentage(value) == expected


@pytest.mark.parametrize("value", [-1, 101, "5%", "x", True, 2.5])
def test_max_fail_percentage_refused(value):
    with pytest.raises(AnsibleFilterError, match="jsonmend_fleet_max_fail_percentage"):
        fleet_max_fail_percentage(value)


@pytest.mark.parametrize(
    ("serial", "sizes"),
    [
        # Ansible's pct_to_int: a percentage of all the play's hosts, at least 1; the last value repeats.
        (None, [1, 1, 2, 7]),
        ([1, "50%"], [1, 5, 5]),
        ([3], [3, 3, 3, 2]),
        (["100%"], [11]),
        ([20], [11]),
    ],
)
def test_batches_as_ansible_cuts_them(serial, sizes):
    batches = fleet_batches(HOSTS, serial)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS


def test_batches_match_ansibles_own_serialization():
    from ansible.executor.playbook_executor import PlaybookExecutor
    from ansible.inventory.host import Host
    from ansible.playbook.play import Play

    class Inventory:
        def get_hosts(self, pattern, order=None):
            return [Host(h) for h in HOSTS]

    executor = PlaybookExecutor.__new__(PlaybookExecutor)
    executor._inventory = Inventory()
    for serial in ([1, "10%", "25%", "100%"], [1, "50%"], ["30%", 2]):
        play = Play.load({"hosts": "all", "serial": serial, "tasks": []})
        real = [[h.name for h in batch] for batch in executor._get_serialized_batches(play)]
        assert real == fleet_batches(HOSTS, serial), serial


@pytest.mark.parametrize(
    ("failed", "size", "pct", "stops"),
    [(0, 4, 0, False), (1, 4, 0, True), (1, 4, 25, False), (2, 4, 25, True), (1, 1, 100, True), (1, 10, 10, False), (2, 10, 10, True)],
)
def test_batch_failed_as_ansible_judges(failed, size, pct, stops):
    # More than max_fail_percentage of the batch, or the whole batch (even with 100).
    assert fleet_batch_failed(failed, size, pct) is stops


def scan(corrupted, rows=100):
    return {"corrupted_rows": corrupted, "total_rows": rows}


def runs(*items):
    return {"runs": [dict(run_id=r, kind=k, status=s, undone_by=u) for r, k, s, u in items]}


@pytest.mark.parametrize(
    ("scan_", "ledger", "action", "reason"),
    [
        (scan(5), None, "repair", "5 corrupted rows"),
        (scan(0), None, "skip", "clean: no corrupted row, nothing to repair"),
        (scan(0), runs(("u1", "undo", "finished", None), ("r1", "repair", "finished", None)), "skip", "already done: repair run r1 finished"),
        (scan(3), runs(("r1", "repair", "finished", None)), "repair", "3 corrupted rows again since repair run r1"),
        (scan(3), runs(("r1", "repair", "finished", "u1")), "repair", "3 corrupted rows"),  # rolled back: repaired again
        (scan(0), runs(("r1", "repair", "finished", "u1")), "skip", "clean"),
        (scan(2), runs(("r1", "repair", "stopped", None)), "repair", "2 corrupted rows; resumes unfinished repair run r1"),
        (scan(0), runs(("r1", "repair", "running", None)), "repair", "no corrupted rows; finishes unfinished repair run r1"),
    ],
)
def test_target_plan(scan_, ledger, action, reason):
    plan = fleet_target_plan(scan_, ledger)
    assert plan["action"] == action and plan["reason"].startswith(reason)


def test_target_plan_of_a_failed_target_and_bad_input():
    assert fleet_target_plan({}, None, "could not connect")["action"] == "fail"
    with pytest.raises(AnsibleFilterError, match="diagnose_scan"):
        fleet_target_plan({"rows": 1})


def plans(**corrupted):
    return [fleet_target_plan(scan(c)) for c in corrupted.values()], list(corrupted)


def test_rollout_plan_canary_then_batches_of_the_rest():
    entries, names = plans(t1=0, t2=4, t3=1, t4=0, t5=7, t6=2)
    plan = fleet_rollout_plan(entries, names)
    assert plan["canary"] == ["t2"] and plan["canary_from"] == "the first target that needs a repair"
    assert plan["batches"] == [["t3"], ["t5"], ["t6"]] and plan["skipped"] == ["t1", "t4"]
    assert (plan["corrupted"], plan["failed"]) == (14, [])
    grouped = fleet_rollout_plan(entries, names, ["t5", "t6"], [1, "100%"])
    assert grouped["canary"] == ["t5", "t6"] and grouped["batches"] == [["t2"], ["t3"]]
    # A canary group already done: the first target that needs a repair goes first instead.
    assert fleet_rollout_plan(entries, names, ["t1"])["canary"] == ["t2"]
    question = fleet_rollout_question(plan, 0)
    assert "14 corrupted rows in 4 of 6 targets" in question and "t2 (4)" in question and "any target fails" in question
    assert "Nothing to repair" in fleet_rollout_question(fleet_rollout_plan(*plans(a=0)))


def test_rollout_report_statuses_and_undo_commands():
    entries, names = plans(t1=0, t2=4, t3=1, t4=3, t5=7)
    entries.append(fleet_target_plan({}, None, "x"))
    names.append("t6")
    plan = fleet_rollout_plan(entries[:5], names[:5], serial=[1, 2])
    done = {
        "t2": dict(repair_run_id="F-t2", rows_changed=4, corrupted_after=0, run_id="F-t2"),
        "t3": dict(repair_run_id="F-t3", rows_changed=1, corrupted_after=0, rolled_back=True, undo=dict(method="undo", restored=1, conflicts=0)),
        "t4": dict(repair_run_id="F-t4", rows_changed=2, error="2 rows could not be written", rolled_back=True, undo=dict(method="undo", restored=2)),
    }
    report = fleet_rollout_report(plan, entries, [done.get(n, {}) for n in names], names, {"fleet_run_id": "F", "inventory": "inventories/fleet-example"})
    rows = {r["target"]: r for r in report["targets"]}
    assert {n: r["status"] for n, r in rows.items()} == {
        "t1": "skipped",
        "t2": "done",
        "t3": "rolled back",
        "t4": "failed",
        "t5": "untouched",
        "t6": "failed",
    }
    assert rows["t2"]["undo_command"] == "./jsonmend fleet_undo -i inventories/fleet-example --limit t2 -e jsonmend_rollback_run_id=F-t2"
    assert rows["t3"]["undo_command"] == rows["t4"]["undo_command"] == rows["t5"]["undo_command"] == ""
    assert rows["t3"]["note"] == "its batch failed; undo restored 1 rows of repair run F-t3"
    assert rows["t4"]["note"].startswith("rolled back: undo restored 2") and rows["t4"]["error"] == "2 rows could not be written"
    assert [rows[n]["batch"] for n in ("t2", "t3", "t4", "t5")] == ["canary", 1, 2, 2]
    assert report["totals"] == dict(done=1, skipped=1, untouched=1, failed=2, targets=6, rows_changed=4, corrupted_before=15, **{"rolled back": 1})
    markdown = fleet_rollout_markdown(report)
    assert "| t2 | " in markdown and "`./jsonmend fleet_undo" in markdown and "Batches (serial [1, 2]): 1: t3; 2: t4, t5" in markdown


def test_a_failed_undo_is_a_failed_target_with_the_command_that_resumes_it():
    entries, names = plans(t1=3)
    plan = fleet_rollout_plan(entries, names)
    done = dict(repair_run_id="F-t1", rows_changed=3, error="boom", undo_error="lock held", rolled_back=False)
    row = fleet_rollout_report(plan, entries, [done], names)["targets"][0]
    assert row["status"] == "failed" and row["error"] == "boom; ROLLBACK FAILED: lock held"
    assert row["undo_command"] == fleet_undo_command("t1", "F-t1")


@pytest.mark.parametrize("bad", [([{}], []), ([], ["a"])])
def test_report_and_plan_refuse_mismatched_lists(bad):
    with pytest.raises(AnsibleFilterError):
        fleet_rollout_plan(*bad)
    with pytest.raises(AnsibleFilterError):
        fleet_rollout_report({}, bad[0], bad[0], bad[1])


PLAN = {"canary": ["t02"], "rest": ["t03", "t05", "t07"]}


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (None, {"canary": ["t02"], "batches": ["t03", "t05", "t07"]}),
        ("all", {"canary": ["t02"], "batches": ["t03", "t05", "t07"]}),
        ("canary", {"canary": ["t02"], "batches": []}),
        # After the approved canary run: its target is skipped as already done; nobody goes alone again.
        (" Batches", {"canary": [], "batches": ["t02", "t03", "t05", "t07"]}),
    ],
)
def test_a_stage_runs_its_part_of_the_plan(stage, expected):
    assert fleet_stage_groups(PLAN, stage) == expected


@pytest.mark.parametrize("stage", ["canaries", "both", 1, True])
def test_an_unknown_stage_is_refused_naming_the_variable(stage):
    with pytest.raises(AnsibleFilterError, match="jsonmend_fleet_stage=.* must be all"):
        fleet_stage(stage)


# -- the fleet deploy's code release (playbooks/fleet_deploy.yml) ---------------------------------------
V1, V2 = "1" * 40, "2" * 40


def release(current=V1, target=V2):
    return {"ref": "main", "current": current, "target": target, "previous": current, "changes_code": current != target}


def test_code_plan_of_the_app_hosts():
    plan = fleet_code_plan([release(), release()], ["app1", "app2"], ["", ""])
    assert (plan["changes"], plan["target"], plan["error"], plan["ref"]) == (True, V2, "", "main")
    question = fleet_rollout_question(fleet_rollout_plan([{"action": "skip", "reason": "clean"}], ["t1"]), 0, plan)
    assert question.startswith("Code first, once, before any data changes: deploy main %s -> %s on app1, app2" % (V1[:12], V2[:12]))
    assert "Nothing to repair" in question
    done = fleet_code_plan([release(V2)], ["app1"])
    assert not done["changes"] and "already runs main (%s): not redeployed" % V2[:12] in fleet_rollout_question({}, 0, done)


def test_code_plan_refuses_a_failed_host_a_split_ref_and_no_host():
    assert fleet_code_plan([release(), None], ["app1", "app2"], ["", "boom"])["error"] == "app2: boom"
    assert "different commits" in fleet_code_plan([release(), release(target="3" * 40)], ["app1", "app2"])["error"]
    assert "no host in the app group" in fleet_code_plan([], [])["error"]
    with pytest.raises(AnsibleFilterError):
        fleet_code_plan([release()], ["app1", "app2"])


def test_a_deploy_question_names_each_targets_strategy_and_says_the_code_stays():
    entries = [{"action": "repair", "corrupted": 12, "strategy": "B"}, {"action": "repair", "corrupted": 120, "strategy": "C"}]
    plan = fleet_rollout_plan(entries, ["t1", "t2"], serial=["100%"])
    question = fleet_rollout_question(plan, 0, fleet_code_plan([release()], ["app1"]))
    assert "t1 (12, strategy B)" in question and "t2 (120, strategy C)" in question and "the code stays deployed" in question
    assert "strategy" not in fleet_rollout_question(fleet_rollout_plan([{"action": "repair", "corrupted": 3}], ["t1"]))


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], "unchanged"),
        (["deployed", "deployed"], "deployed"),
        (["unchanged"], "unchanged"),
        (["deployed", "rolled back"], "rolled back"),
        (["rolled back", "ROLLBACK FAILED"], "ROLLBACK FAILED"),
        (["would deploy"], "would deploy"),
    ],
)
def test_code_status_for_the_report(statuses, expected):
    entries = [{"status": s, "ref": "main", "previous": V1, "new": V2, "error": "boom" if "back" in s.lower() else ""} for s in statuses]
    code = fleet_code_status(entries or [{}], ["app%d" % i for i in range(max(1, len(entries)))])
    assert code["status"] == expected
    if not statuses:
        assert code["note"].startswith("not reached")
    report = fleet_rollout_report(fleet_rollout_plan([], []), [], [], [], {"code": code})
    markdown = fleet_rollout_markdown(report)
    assert markdown.startswith("# Fleet deploy") and "Code: **%s**" % expected in markdown and "| strategy |" in markdown


def test_a_code_plan_that_finishes_an_interrupted_deploy_says_so_and_keeps_the_first_commit():
    # The interrupted run checked out V2 already: without its record the plan would say "not redeployed".
    interrupted = dict(release(V2), previous=V1, resumes="20261207T101010-abcd-code")
    plan = fleet_code_plan([interrupted], ["app1"])
    assert plan["changes"] and plan["resumes"] == {"app1": "20261207T101010-abcd-code"} and plan["previous"] == {"app1": V1}
    question = fleet_rollout_question({}, 0, plan)
    assert question.startswith("Code first, once, before any data changes: FINISH the interrupted code deploy 20261207T101010-abcd-code")
    assert "main %s -> %s on app1, the checkout now at %s" % (V1[:12], V2[:12], V2[:12]) in question
    assert "the commit to return to stays %s" % V1[:12] in question and "not redeployed" not in question
    code = fleet_code_status([{"status": "deployed", "ref": "main", "previous": V1, "new": V2, "resumes": "20261207T101010-abcd-code"}], ["app1"])
    assert code["resumes"] == "20261207T101010-abcd-code" and "resumed the interrupted code deploy 20261207T101010-abcd-code" in code["note"]
    assert fleet_code_status([{"status": "deployed", "ref": "main", "previous": V1, "new": V2}], ["app1"])["resumes"] == ""


def test_a_deployed_code_release_names_its_rollback_and_monitor_commands_with_the_fleet_inventory():
    code = fleet_code_status([{"status": "deployed", "ref": "main", "previous": V1, "new": V2}], ["app1"])
    context = {"code": code, "inventory": "inventories/fleet", "report_dir": "/srv/jsonmend reports"}
    report = fleet_rollout_report(fleet_rollout_plan([], []), [], [], [], context)
    assert "report_dir" not in report
    rollback = "./jsonmend rollback -i inventories/fleet -e 'jsonmend_report_dir=/srv/jsonmend reports' -e jsonmend_rollback_scope=code"
    assert report["code"]["rollback_command"] == rollback
    assert report["code"]["monitor_command"] == "./jsonmend monitor -i inventories/fleet -e 'jsonmend_report_dir=/srv/jsonmend reports'"
    assert "Roll the code back (to %s;" % V1[:12] in fleet_rollout_markdown(report) and "`%s`" % rollback in fleet_rollout_markdown(report)
    # Nothing to roll back: a release not deployed by this run, or check mode.
    for status, check in (("unchanged", False), ("rolled back", False), ("deployed", True)):
        entry = fleet_code_status([{"status": status, "ref": "main", "previous": V1, "new": V2}], ["app1"])
        quiet = fleet_rollout_report(fleet_rollout_plan([], []), [], [], [], {"code": entry, "check_mode": check})
        assert quiet["code"]["rollback_command"] == "" and "Roll the code back" not in fleet_rollout_markdown(quiet)


def test_a_fleet_deploy_uses_no_maintenance_mode_and_says_so_for_b_c_d_targets():
    entries = [{"action": "repair", "corrupted": 3, "strategy": "A"}, {"action": "repair", "corrupted": 120, "strategy": "C"}]
    plan = fleet_rollout_plan(entries, ["t1", "t2"], serial=["100%"])
    code = fleet_code_plan([release()], ["app1"])
    question = fleet_rollout_question(plan, 0, code)
    assert "No maintenance mode: deploy.yml would hold the application in maintenance for strategy C (t2 C)" in question
    assert "./jsonmend maintenance -i <this inventory> -e maintenance_action=enable|disable" in question
    report = fleet_rollout_report(plan, entries, [{}, {}], ["t1", "t2"], {"code": fleet_code_status([{"status": "deployed"}], ["app1"])})
    assert report["maintenance"]["used"] is False and report["maintenance"]["targets"] == {"t2": "C"}
    assert "No maintenance mode:" in fleet_rollout_markdown(report)
    # Strategy A only, or a fleet repair (no code): nothing to say.
    only_a = fleet_rollout_plan(entries[:1], ["t1"])
    assert "maintenance" not in fleet_rollout_question(only_a, 0, code) and "maintenance" not in fleet_rollout_question(plan)
    assert "maintenance" not in fleet_rollout_report(plan, entries, [{}, {}], ["t1", "t2"], {})
