# fleet_guard.yml's summary: one line per target from what its guard change actually did.
from __future__ import annotations


def fleet_guard_lines(targets, hostvars):
    """One line per target: its guard's mode before and after, or the refusal or error that stopped it."""
    lines = []
    for target in targets or []:
        host = hostvars.get(target) or {}
        error = host.get("fleet_guard_error")
        if error:
            verdict = "refused" if "othing was changed" in str(error) else "FAILED"
            lines.append("%s: %s: %s" % (target, verdict, " ".join(str(error).split())))
            continue
        state = host.get("guard_state") or {}
        if not state:
            lines.append("%s: not reached" % target)
            continue
        before, after = state.get("installed_before", "?"), state.get("installed", "?")
        if state.get("check_mode"):
            change = "would change %s -> %s (check mode: nothing changed)" % (before, after) if before != after else "%s, unchanged" % after
        else:
            change = "%s -> %s" % (before, after) if state.get("changed") else "%s, unchanged" % after
        lines.append("%s: %s" % (target, change))
    return lines


class FilterModule:
    def filters(self):
        return {"jsonmend_fleet_guard_lines": fleet_guard_lines}
