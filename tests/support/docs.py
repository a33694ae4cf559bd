# A module's documented options as Ansible sees them: its DOCUMENTATION plus the doc fragments
# it extends (doc_fragments/), for tests that compare documentation with the argument spec.
from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def fragment_options(name):
    spec = importlib.util.spec_from_file_location("doc_fragment_" + name, ROOT / "doc_fragments" / ("%s.py" % name))
    fragment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fragment)
    return yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"]


def documented_options(module):
    """Options of a module object's DOCUMENTATION, fragments merged (the module's own text wins)."""
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = {}
    for name in doc.get("extends_documentation_fragment") or []:
        options.update(fragment_options(name))
    # Like Ansible's merge: a module's entry for a fragment option overrides it key by key.
    for name, option in (doc.get("options") or {}).items():
        options[name] = dict(options.get(name) or {}, **option)
    return options
