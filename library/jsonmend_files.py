#!/usr/bin/python
# Documentation of the jsonmend_files action plugin (action_plugins/jsonmend_files.py): it runs on the
# controller, in Ansible's own process. This module body only answers when it is reached without it.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: jsonmend_files
short_description: Write a run's report and record files on the controller in one task
description:
  - Creates directories, writes whole files (atomically, through a temporary file and a rename) and appends
    lines, all on the controller, in one task and without a module process per file.
  - A file whose content and mode are already right is left alone; a line already in a file is not appended again.
  - In check mode nothing is written; RV(written) lists what would be.
  - This is an action plugin; the module only documents it.
version_added: "0.3.0"
author: jsonmend maintainers (@jsonmend)
options:
  directories:
    description: Directories to create when missing (with their parents).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      mode:
        description: Its mode when created.
        type: str
        default: "0750"
  files:
    description: Files to write whole.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      content:
        description: Its whole content.
        type: str
        default: ""
      mode:
        description: Its mode.
        type: str
        default: "0640"
  append:
    description: Lines to append to files (created when missing), each unless already in the file.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      line:
        description: The line, without its newline.
        type: str
        required: true
      mode:
        description: The file's mode when created.
        type: str
        default: "0640"
  facts:
    description:
      - Facts to set for the host once the files are written (in check mode too), returned as the task's C(ansible_facts)
        as a facts module returns them (a play variable of the same name wins over them, unlike C(ansible.builtin.set_fact)) -
        a role that publishes where it wrote needs no task of its own for it.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: Nothing is written in check mode.
  diff_mode:
    support: none
    description: No diff is shown.
  platform:
    support: full
    platforms: posix
    description: Runs on the controller.
notes:
  - Runs on the controller whatever host the task targets; use it with C(run_once).
"""

EXAMPLES = r"""
- name: Write the diagnosis files
  jsonmend_files:
    directories:
      - path: /srv/jsonmend/reports/20261206T220000Z
    files:
      - path: /srv/jsonmend/reports/20261206T220000Z/diagnosis.json
        content: "{{ diagnose_scan | to_nice_json }}"
    append:
      - path: /srv/jsonmend/reports/records.jsonl
        line: "{{ record_run | to_json }}"
  run_once: true
"""

RETURN = r"""
written:
  description: Directories and files created, written or appended to (in check mode, those that would be).
  returned: always
  type: list
  elements: str
check_mode:
  description: Whether the run was in check mode (nothing written).
  returned: always
  type: bool
ansible_facts:
  description: O(facts), set for the host.
  returned: when O(facts) is not empty
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule


def argument_spec():
    """The same options as DOCUMENTATION (the action plugin reads them itself)."""
    return dict(
        directories=dict(type="list", elements="dict", default=[], options=dict(path=dict(type="path", required=True), mode=dict(type="str", default="0750"))),
        files=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(path=dict(type="path", required=True), content=dict(type="str", default=""), mode=dict(type="str", default="0640")),
        ),
        append=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(path=dict(type="path", required=True), line=dict(type="str", required=True), mode=dict(type="str", default="0640")),
        ),
        facts=dict(type="dict", default={}),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    module.fail_json(msg="jsonmend_files runs as an action plugin on the controller: add action_plugins to ansible.cfg")


if __name__ == "__main__":
    main()
