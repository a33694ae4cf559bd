# The variable names jsonmend knows, read from the checkout: what the roles declare and what
# the playbooks, roles and inventories use. The preflight role refuses the rest (typos).
from __future__ import annotations

DOCUMENTATION = r"""
name: jsonmend_known_vars
short_description: The variable names jsonmend's roles, playbooks and inventories declare or use
description:
  - Returns one dict with C(roles) (role names found in O(roles_path)) and C(names) (every known
    variable name with a C(jsonmend_) or a role prefix).
  - Names come from each role's C(meta/argument_specs.yml) options (every entry point),
    C(defaults/) and C(vars/) keys, the names the role's tasks, templates and handlers use,
    the names the playbooks and AWX definitions use, the keys of the inventories' group and
    host variables, and a short list of names set from outside (AWX).
options:
  _terms:
    description: Not used.
    required: false
  roles_path:
    description: Directories holding roles (the role path in use, the checkout's roles/ first).
    type: list
    elements: path
    required: true
  root:
    description: The checkout (playbooks/, inventories/, awx/ below it).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Show the known names
  ansible.builtin.debug:
    msg: "{{ query('jsonmend_known_vars', roles_path=['roles'], root='.') | first }}"
"""

RETURN = r"""
_list:
  description: One dict with C(roles) (sorted role names) and C(names) (sorted variable names).
  type: list
  elements: dict
"""

import re
from pathlib import Path

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# Names no file here sets or reads by name: AWX passes them to jobs (set_stats of a previous node).
FROM_OUTSIDE = ("jsonmend_diagnosis", "jsonmend_deploy", "jsonmend_rollback_run_id")
# Files whose text names variables: role code, playbooks, AWX definitions.
ROLE_TEXT = ("tasks", "templates", "handlers")
TEXT_SUFFIXES = {".yml", ".yaml", ".j2", ".json"}


# The C parser when PyYAML has it: every run reads every role's defaults and specs (about 5x faster).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path):
    try:
        return yaml.load(path.read_text(), Loader=_LOADER) or {}  # noqa: S506  # a safe loader, C or pure Python
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleLookupError("cannot read %s: %s" % (path, exc)) from exc


def _keys(path):
    data = _load(path)
    return set(data) if isinstance(data, dict) else set()


def _yaml_files(base):
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml"}) if base.is_dir() else []


def _text_files(base):
    return sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES) if base.is_dir() else []


def _code(text):
    """The text without YAML and Jinja comments (a comment may quote a typo as an example)."""
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def known_variables(roles_path, root):
    """{'roles': [...], 'names': [...]} for the role directories and the checkout given."""
    roles, names, texts = {}, set(FROM_OUTSIDE), []
    for directory in roles_path:
        for role in sorted(Path(directory).glob("*/tasks")):
            roles.setdefault(role.parent.name, []).append(role.parent)
    for bases in roles.values():
        for base in bases:
            specs = _load(base / "meta" / "argument_specs.yml").get("argument_specs") if (base / "meta" / "argument_specs.yml").is_file() else None
            for entry in (specs or {}).values():
                names.update((entry or {}).get("options") or {})
            for sub in ("defaults", "vars"):
                for path in _yaml_files(base / sub):
                    names.update(_keys(path))
            for sub in ROLE_TEXT:
                texts += _text_files(base / sub)
    root = Path(root)
    texts += _text_files(root / "playbooks") + _text_files(root / "awx")
    for inventory in sorted((root / "inventories").glob("*")):
        for sub in ("group_vars", "host_vars"):
            for path in _yaml_files(inventory / sub):
                names.update(_keys(path))
    prefixes = ["jsonmend"] + sorted(roles)
    token = re.compile(r"(?<![A-Za-z0-9_])(?:%s)_[A-Za-z0-9_]*[A-Za-z0-9]" % "|".join(map(re.escape, prefixes)))
    for path in texts:
        names.update(token.findall(_code(path.read_text(errors="replace"))))
    return dict(roles=sorted(roles), names=sorted(n for n in names if isinstance(n, str)))


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [known_variables(self.get_option("roles_path"), self.get_option("root"))]
