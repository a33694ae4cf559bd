# How a run ended, one mapping for every playbook: deploy.yml, rollback.yml and emergency_rollback.yml
# each advance a state variable as they go (refused until the first change, ...); this filter turns
# the last state into the run record's outcome and the words the console and set_stats show.
from __future__ import annotations

from ansible.errors import AnsibleFilterError

RECORD_OUTCOMES = ("success", "failed", "rolled_back", "refused")

# playbook -> {state: (record outcome, what the operator reads)}; a state not listed is a failure.
STATES = {
    "deploy": {
        "refused": ("refused", "refused"),
        "check": ("success", "dry run: would proceed"),
        "deployed": ("success", "deployed"),
        "rolled_back": ("rolled_back", "deploy failed, rolled back"),
        "rollback_failed": ("failed", "ROLLBACK FAILED"),
        "rolling_back": ("failed", "ROLLBACK FAILED"),
        "in_progress": ("failed", "failed"),
    },
    "rollback": {
        "refused": ("refused", "refused"),
        "started": ("failed", "failed"),
    },
    "emergency": {
        "refused": ("refused", "refused"),
        "started": ("failed", "EMERGENCY ROLLBACK FAILED"),
    },
}
FAILED = {"deploy": ("failed", "failed"), "rollback": ("failed", "failed"), "emergency": ("failed", "EMERGENCY ROLLBACK FAILED")}


def run_outcome(state, playbook, changed=False, check=False):
    """{record, report} for a run of `playbook` (deploy, rollback, emergency) that ended in `state`.

    rollback and emergency end in `done`: a dry run would proceed, a run that put something back
    rolled back, one that found nothing to put back succeeded.
    """
    if playbook not in STATES:
        raise AnsibleFilterError("unknown playbook %r: one of %s" % (playbook, ", ".join(sorted(STATES))))
    state = str(state or "refused")
    if state == "done" and playbook in ("rollback", "emergency"):
        if check:
            record, report = "success", "dry run: would proceed"
        elif changed:
            record, report = "rolled_back", "rolled back"
        else:
            record, report = "success", "nothing to roll back"
    else:
        record, report = STATES[playbook].get(state, FAILED[playbook])
    return {"record": record, "report": report}


class FilterModule:
    """jsonmend run outcome filter."""

    def filters(self):
        return {"jsonmend_run_outcome": run_outcome}
