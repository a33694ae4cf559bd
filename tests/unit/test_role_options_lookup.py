# jsonmend_role_options: the roles' argument specs merged for one validate_argument_spec task.
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleLookupError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "lookup_plugins"))

from jsonmend_role_options import merge_options  # noqa: E402


def spec(tmp_path, role, entries):
    path = tmp_path / role / "meta" / "argument_specs.yml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"argument_specs": {name: {"options": options} for name, options in entries.items()}}))


def test_entry_points_merge_and_published_facts_are_left_out(tmp_path):
    spec(tmp_path, "one", {"main": {"one_size": {"type": "int"}, "preflight_run": {"type": "dict", "required": True}}})
    spec(tmp_path, "two", {"main": {"two_mode": {"type": "str"}}, "weekly": {"two_days": {"type": "int"}, "one_size": {"type": "int", "description": "x"}}})
    merged = merge_options(str(tmp_path), ["one", "two:weekly"], {"preflight_run"})
    assert merged == {"one_size": {"type": "int"}, "two_days": {"type": "int"}}


def test_two_rules_for_one_name_stop_the_lookup(tmp_path):
    spec(tmp_path, "one", {"main": {"shared": {"type": "int"}}})
    spec(tmp_path, "two", {"main": {"shared": {"type": "str"}}})
    with pytest.raises(AnsibleLookupError, match="shared is declared differently by one and two"):
        merge_options(str(tmp_path), ["one", "two"])
    with pytest.raises(AnsibleLookupError, match="no entry point 'nope'"):
        merge_options(str(tmp_path), ["one:nope"])


def test_the_playbooks_role_sets_merge_without_a_conflict():
    """The sets the playbooks check at once (phase2_diagnose, weekly_check, monitor, the fleet's targets)."""
    published = {"preflight_run", "diagnose_scan", "strategy_decision", "monitor_findings", "guard_weekly_status"}
    for roles in (
        ["diagnose", "strategy", "report", "record"],
        ["notify:validate", "guard:weekly_since", "diagnose", "strategy", "guard:weekly_judge", "report", "metrics", "notify:send", "record"],
        ["notify:validate", "diagnose", "strategy", "guard:weekly", "report", "metrics", "notify", "record"],
        ["notify:validate", "monitor", "diagnose", "monitor:judge", "notify:send", "record"],
        ["preflight", "diagnose", "strategy", "report", "record"],
    ):
        merged = merge_options(str(ROOT / "roles"), roles, published)
        assert merged and not published & set(merged)
