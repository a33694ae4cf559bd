# fleet_guard.yml's summary (jsonmend_fleet_guard_lines): each target's line from what its guard change did.
from filter_plugins.jsonmend_fleet_guard import fleet_guard_lines
from filter_plugins.jsonmend_record import next_command, undo_command


def test_one_line_per_target_from_what_was_done():
    hostvars = {
        "t1": {"guard_state": {"installed_before": "off", "installed": "observe", "changed": True}},
        "t2": {"guard_state": {"installed_before": "observe", "installed": "observe", "changed": False}},
        "t3": {"fleet_guard_error": "enforce refused: 3 corrupted rows.\n Nothing was changed."},
        "t4": {"fleet_guard_error": "could not connect"},
        "t5": {"guard_state": {"installed_before": "off", "installed": "observe", "changed": True, "check_mode": True}},
        "t6": {},
    }
    assert fleet_guard_lines(["t1", "t2", "t3", "t4", "t5", "t6"], hostvars) == [
        "t1: off -> observe",
        "t2: observe, unchanged",
        "t3: refused: enforce refused: 3 corrupted rows. Nothing was changed.",
        "t4: FAILED: could not connect",
        "t5: would change off -> observe (check mode: nothing changed)",
        "t6: not reached",
    ]


def test_a_fleet_targets_guard_record_names_fleet_guard_for_its_undo_and_next_step():
    record = {
        "playbook": "fleet_guard.yml",
        "outcome": "success",
        "inventory": "fleet-example",
        "fleet_target": "tenant03",
        "guard": {"changed": True, "installed_before": "off", "installed": "observe"},
    }
    assert undo_command(record) == "./jsonmend fleet_guard -i inventories/fleet-example --limit tenant03 -e jsonmend_guard_mode=off"
    assert next_command(record).endswith("./jsonmend fleet_guard -i inventories/fleet-example --limit tenant03 -e jsonmend_guard_mode=enforce")
