# Unknown variables: a name with jsonmend's or a role's prefix that nothing declares is a typo
# until proven otherwise (-e jsonmend_tabel=x would otherwise scan the default table).
from __future__ import annotations

import difflib
import re

from ansible.errors import AnsibleFilterError


def unknown_variables(names, known, prefixes):
    """[{'name', 'suggestion'}] for each name that has one of the prefixes and is not known."""
    if not isinstance(prefixes, (list, tuple)) or not prefixes:
        raise AnsibleFilterError("jsonmend_unknown_variables needs a list of prefixes")
    pattern = re.compile(r"^(?:%s)_" % "|".join(map(re.escape, prefixes)))
    known = set(known or ())
    out = []
    for name in sorted(set(names or ())):
        if isinstance(name, str) and pattern.match(name) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
            out.append(dict(name=name, suggestion=close[0] if close else None))
    return out


def unknown_variables_message(unknown):
    """The refusal: each unknown name with the closest known one."""
    if not unknown:
        return ""
    lines = [
        "%s: %s."
        % (
            "Unknown variable" if len(unknown) == 1 else "Unknown variables",
            "; ".join("%s (did you mean %s?)" % (u["name"], u["suggestion"]) if u.get("suggestion") else u["name"] for u in unknown),
        ),
        "No role, playbook or inventory of jsonmend declares it: a typo would silently fall back to a default.",
        "Fix the name, or add a variable of your own to preflight_known_variables. Nothing was changed.",
    ]
    return " ".join(lines)


class FilterModule:
    """jsonmend variable-name filters."""

    def filters(self):
        return {
            "jsonmend_unknown_variables": unknown_variables,
            "jsonmend_unknown_variables_message": unknown_variables_message,
        }
