# The JSON files the runs left in a reports directory (deploy.json, record.json), read on the
# controller in Ansible's own process: a find module and a file lookup cost a module process and
# a task, and the monitor and the rollback read these on every run.
from __future__ import annotations

DOCUMENTATION = r"""
name: jsonmend_run_files
short_description: Read the JSON files of the runs in a reports directory
description:
  - For each name in O(_terms), the parsed JSON documents of C(<dir>/<name>) and C(<dir>/*/<name>) (each run's
    own directory), in path order. The same files as M(ansible.builtin.find) with C(recurse) and C(depth=2).
  - A relative O(dir) is taken from the current directory, as a module on the controller would.
  - A missing directory gives empty lists. A file that is not JSON stops the run with its path.
options:
  _terms:
    description: File names to read (C(deploy.json), C(record.json)).
    required: true
  dir:
    description: The reports directory.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Read every deploy and run record
  ansible.builtin.set_fact:
    deploys: "{{ lookup('jsonmend_run_files', 'deploy.json', dir=preflight_run.report_dir) }}"
"""

RETURN = r"""
_list:
  description: One list of parsed documents per name of O(_terms), in that order (a single list for one name with C(lookup)).
  type: list
  elements: list
"""

import json
import os
from pathlib import Path

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def run_files(directory, name):
    """The documents of <directory>/<name> and <directory>/*/<name>, in path order."""
    base = Path(os.path.abspath(os.path.expanduser(str(directory))))
    if not base.is_dir():
        return []
    paths = sorted([p for p in [base / name] if p.is_file()] + [p for p in base.glob("*/" + name) if p.is_file()])
    documents = []
    for path in paths:
        try:
            documents.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError("%s could not be read as JSON: %s" % (path, exc)) from None
    return documents


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        directory = self.get_option("dir")
        return [run_files(directory, str(name)) for name in terms]
