# One mapping from how a run ended to its record and its console words, for every playbook.
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_outcome import RECORD_OUTCOMES, STATES, run_outcome


@pytest.mark.parametrize(
    "state, playbook, changed, check, record, report",
    [
        ("deployed", "deploy", True, False, "success", "deployed"),
        ("check", "deploy", False, True, "success", "dry run: would proceed"),
        ("rolled_back", "deploy", True, False, "rolled_back", "deploy failed, rolled back"),
        ("rollback_failed", "deploy", True, False, "failed", "ROLLBACK FAILED"),
        ("rolling_back", "deploy", True, False, "failed", "ROLLBACK FAILED"),
        ("in_progress", "deploy", True, False, "failed", "failed"),
        (None, "deploy", False, False, "refused", "refused"),
        ("refused", "rollback", False, False, "refused", "refused"),
        ("started", "rollback", True, False, "failed", "failed"),
        ("failed", "rollback", True, False, "failed", "failed"),
        ("done", "rollback", True, False, "rolled_back", "rolled back"),
        ("done", "rollback", False, False, "success", "nothing to roll back"),
        ("done", "rollback", True, True, "success", "dry run: would proceed"),
        ("started", "emergency", True, False, "failed", "EMERGENCY ROLLBACK FAILED"),
        ("done", "emergency", True, False, "rolled_back", "rolled back"),
        ("refused", "emergency", False, False, "refused", "refused"),
    ],
)
def test_run_outcome(state, playbook, changed, check, record, report):
    assert run_outcome(state, playbook, changed, check) == {"record": record, "report": report}


def test_every_record_outcome_is_one_the_record_role_accepts():
    outcomes = {record for states in STATES.values() for record, _ in states.values()}
    assert outcomes <= set(RECORD_OUTCOMES)


def test_an_unknown_playbook_is_refused():
    with pytest.raises(AnsibleFilterError, match="unknown playbook"):
        run_outcome("done", "cleanup")
