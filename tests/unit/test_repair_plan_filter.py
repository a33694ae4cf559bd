# The plan a deploy shows before its question: what the repair would do, counted from the live scan.
from filter_plugins.jsonmend_cleanup import repair_plan

SCAN = {"by_type": {"OBJECT": 1000, "STRING": 5, "INTEGER": 3, "DOUBLE": 4, "READABLE OBJECT": 2}, "double_encoded_rows": 4}
POLICY = {"actions": {"STRING+OBJECT": "unwrap", "INTEGER": "skip"}, "default_action": "empty"}


def test_the_plan_counts_each_action_from_the_scan():
    plan = repair_plan(SCAN, POLICY)
    assert plan["actions"] == {"unwrap": 4, "empty": 5, "skip": 3}
    assert plan["rows"] == 9
    assert plan["line"] == "would repair 9 rows: set {} 5, unwrap 4, skip 3"
    assert plan["by_kind"]["STRING"] == {"action": "empty", "rows": 1}


def test_nothing_to_repair():
    assert repair_plan({"by_type": {"OBJECT": 10}}, POLICY)["line"] == "would repair 0 rows"
