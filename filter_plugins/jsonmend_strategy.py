# The runbook's decision point as pure functions: corrupted row count -> strategy A/B/C/D.
from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The runbook's ranges overlap (1-50 / 50-500 / 500+); these upper bounds resolve them.
DEFAULT_THRESHOLDS = {"a_max": 0, "b_max": 50, "c_max": 500}

# What each strategy means, in the runbook's words, plus the gates later phases apply.
STRATEGIES = {
    "A": dict(
        title="Zero corrupted rows",
        action="Deploy model validation only",
        risk="None",
        downtime="None",
        rollback="Easy (just revert code)",
        maintenance=False,
        backup=False,
        cleanup=False,
        investigation=False,
        approval=False,
    ),
    "B": dict(
        title="Few corrupted rows",
        action="Deploy fixes + run cleanup",
        risk="Low (minimal data affected)",
        downtime="5-10 minutes recommended",
        rollback="Medium (lossless undo of the cleanup; backup restore as fallback)",
        maintenance=True,
        backup=True,
        cleanup=True,
        investigation=False,
        approval=False,
    ),
    "C": dict(
        title="Many corrupted rows",
        action="Investigate source first, then cleanup",
        risk="Medium (significant data affected)",
        downtime="15-30 minutes recommended",
        rollback="Required backup (verified) and the lossless undo",
        maintenance=True,
        backup=True,
        cleanup=True,
        investigation=True,
        approval=False,
    ),
    "D": dict(
        title="Systemic corruption",
        action="STOP - investigate deeply before any changes",
        risk="High (systemic issue)",
        downtime="Schedule maintenance window (at least 2 hours)",
        rollback="Full backup restoration plan needed (verified full-database backup)",
        maintenance=True,
        backup=True,
        cleanup=True,
        investigation=True,
        approval=True,
    ),
}

# Strategy D's preconditions, from the runbook.
STRATEGY_D_REQUIREMENTS = [
    "Root cause analysis complete",
    "Development team consultation",
    "Stakeholder approval",
    "Scheduled maintenance window (at least 2 hours)",
    "Full backup verified and tested",
    "Rollback procedure tested",
]


def _count(value, what):
    """A whole number >= 0 (extra vars arrive as strings); anything else is refused."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AnsibleFilterError("%s must be a whole number 0 or more, got %r" % (what, value))
    return value


def normalize_thresholds(thresholds=None):
    """Validate {a_max, b_max, c_max}: whole numbers with a_max < b_max < c_max."""
    merged = dict(DEFAULT_THRESHOLDS)
    if thresholds:
        if not isinstance(thresholds, dict):
            raise AnsibleFilterError("strategy_thresholds must be a mapping with a_max, b_max and c_max, got %r" % (thresholds,))
        unknown = sorted(set(thresholds) - set(DEFAULT_THRESHOLDS))
        if unknown:
            raise AnsibleFilterError("unknown strategy_thresholds key(s) %s: expected a_max, b_max, c_max" % ", ".join(unknown))
        merged.update(thresholds)
    out = dict((key, _count(merged[key], "strategy_thresholds.%s (a threshold)" % key)) for key in DEFAULT_THRESHOLDS)
    if not out["a_max"] < out["b_max"] < out["c_max"]:
        raise AnsibleFilterError("strategy_thresholds overlap: need a_max < b_max < c_max, got a_max=%(a_max)s b_max=%(b_max)s c_max=%(c_max)s" % out)
    return out


def threshold_problems(thresholds=None):
    """[] for usable thresholds, else the one problem: the role's validation asserts on it."""
    try:
        normalize_thresholds(thresholds)
    except AnsibleFilterError as exc:
        return [str(exc)]
    return []


def strategy_ranges(thresholds=None):
    """Human ranges per strategy, e.g. {'B': '1-50'}."""
    t = normalize_thresholds(thresholds)
    a = "0" if t["a_max"] == 0 else "0-%d" % t["a_max"]
    return {
        "A": a,
        "B": "%d-%d" % (t["a_max"] + 1, t["b_max"]),
        "C": "%d-%d" % (t["b_max"] + 1, t["c_max"]),
        "D": "%d+" % (t["c_max"] + 1),
    }


def choose_strategy(corrupted_rows, thresholds=None):
    """Strategy letter for a corrupted row count."""
    count = _count(corrupted_rows, "corrupted_rows")
    t = normalize_thresholds(thresholds)
    if count <= t["a_max"]:
        return "A"
    if count <= t["b_max"]:
        return "B"
    if count <= t["c_max"]:
        return "C"
    return "D"


def jsonmend_strategy(corrupted_rows, thresholds=None):
    """Decision fact: the recommended strategy, why, and what it requires of later phases."""
    letter = choose_strategy(corrupted_rows, thresholds)
    ranges = strategy_ranges(thresholds)
    decision = dict(STRATEGIES[letter])
    decision.update(
        strategy=letter,
        corrupted_rows=int(corrupted_rows),
        range=ranges[letter],
        ranges=ranges,
        thresholds=normalize_thresholds(thresholds),
        reason="%d corrupted row(s) is in strategy %s's range %s" % (int(corrupted_rows), letter, ranges[letter]),
        requirements=list(STRATEGY_D_REQUIREMENTS) if letter == "D" else [],
    )
    return decision


def jsonmend_strategy_gate(requested, corrupted_rows, thresholds=None):
    """Check a requested strategy (A-D or auto) against the live count.

    Returns {strategy, recommended, fits, message}; `auto` always fits.
    """
    recommended = choose_strategy(corrupted_rows, thresholds)
    wanted = str(requested or "").strip().upper()
    if wanted == "AUTO":
        wanted = recommended
    if wanted not in STRATEGIES:
        raise AnsibleFilterError("unknown strategy %r: use A, B, C, D or auto" % (requested,))
    ranges = strategy_ranges(thresholds)
    fits = wanted == recommended
    if fits:
        message = "strategy %s fits %d corrupted row(s) (range %s)" % (wanted, int(corrupted_rows), ranges[wanted])
    else:
        message = "strategy %s does not fit: the live scan found %d corrupted row(s), outside %s's range %s; the strategy that fits is %s (%s)" % (
            wanted,
            int(corrupted_rows),
            wanted,
            ranges[wanted],
            recommended,
            ranges[recommended],
        )
    return dict(strategy=wanted, recommended=recommended, fits=fits, message=message)


class FilterModule:
    """jsonmend strategy filters."""

    def filters(self):
        return {
            "jsonmend_strategy": jsonmend_strategy,
            "jsonmend_strategy_gate": jsonmend_strategy_gate,
            "jsonmend_strategy_ranges": strategy_ranges,
            "jsonmend_strategy_threshold_problems": threshold_problems,
        }
