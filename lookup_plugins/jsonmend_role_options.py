# The options of several roles' argument specs, merged, so that a playbook checks the inputs of all
# its roles in one ansible.builtin.validate_argument_spec task (each role's own check is a task, and
# every task costs a forked worker) and imports the roles with rolespec_validate: false.
from __future__ import annotations

DOCUMENTATION = r"""
name: jsonmend_role_options
short_description: Merge the options of several roles' argument specs
description:
  - For each term C(<role>) or C(<role>:<entry point>) (default C(main)), the options of that entry point in
    C(<roles dir>/<role>/meta/argument_specs.yml), merged into one mapping for M(ansible.builtin.validate_argument_spec).
  - Two roles may declare the same option; they must agree on its C(type) and C(choices), else the lookup stops
    naming both (one check cannot hold two rules for one name).
options:
  _terms:
    description: The roles, in the order the playbook runs them (C(guard:weekly) for an entry point other than C(main)).
    required: true
  exclude:
    description:
      - Options left out - what one role publishes for the next (C(preflight_run), C(diagnose_scan)); the order of the roles
        guarantees them, and they do not exist yet when the check runs.
    type: list
    elements: str
    default: []
  roles_dir:
    description: Where the roles are; empty for C(roles/) beside the playbook's directory.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Check the inputs of every role of the playbook at once
  ansible.builtin.validate_argument_spec:
    argument_spec: "{{ lookup('jsonmend_role_options', 'preflight', 'diagnose', 'guard:weekly', exclude=['preflight_run', 'diagnose_scan']) }}"
"""

RETURN = r"""
_raw:
  description: One mapping of option name to its spec, the roles' options merged.
  type: dict
"""

import os

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# The parts of an option's spec that decide what passes; descriptions may differ between roles.
RULES = ("type", "choices", "elements")
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def role_options(roles_dir, term):
    role, _, entry = str(term).partition(":")
    path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as handle:
            specs = (yaml.load(handle, Loader=Loader) or {}).get("argument_specs") or {}
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleLookupError("the argument specs of role %s could not be read: %s" % (role, exc)) from None
    if (entry or "main") not in specs:
        raise AnsibleLookupError("role %s has no entry point %r in %s" % (role, entry or "main", path))
    return specs[entry or "main"].get("options") or {}


def merge_options(roles_dir, terms, exclude=()):
    merged, owner = {}, {}
    for term in terms:
        for name, spec in role_options(roles_dir, term).items():
            if name in exclude:
                continue
            if name in merged and any(merged[name].get(k) != spec.get(k) for k in RULES):
                raise AnsibleLookupError("option %s is declared differently by %s and %s" % (name, owner[name], term))
            merged.setdefault(name, spec)
            owner.setdefault(name, term)
    return merged


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        roles_dir = os.path.expanduser(self.get_option("roles_dir") or "") or os.path.join(
            os.path.dirname(str((variables or {}).get("playbook_dir", "."))), "roles"
        )
        return [merge_options(roles_dir, terms, set(self.get_option("exclude")))]
