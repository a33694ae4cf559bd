# Controller-side file writing for the run's reports and records, in one task: an action plugin runs
# in the controller's own process, so ten report files cost no module process each (issue: the
# diagnosis's Ansible overhead). Documentation: library/jsonmend_files.py.
from __future__ import annotations

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase


def _mode(value, what):
    """An octal mode given as a string ('0640') or an int (0o640)."""
    try:
        return int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError) as exc:
        raise AnsibleActionFail("%s must be an octal mode like '0640', got %r" % (what, value)) from exc


def _write_atomic(path, data, mode):
    """Write `data` to `path` through a temporary file in the same directory, then rename: a reader
    (or a run killed half way) never sees half a file."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".jsonmend-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("directories", "files", "append", "facts"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        directories = args.get("directories") or []
        files = args.get("files") or []
        appends = args.get("append") or []
        for name, value in (("directories", directories), ("files", files), ("append", appends)):
            if not isinstance(value, list) or not all(isinstance(item, dict) and item.get("path") for item in value):
                raise AnsibleActionFail("%s must be a list of dicts, each with a path" % name)
        check = self._task.check_mode
        written = []
        for item in directories:
            path = os.path.expanduser(str(item["path"]))
            if not os.path.isdir(path):
                if not check:
                    os.makedirs(path, _mode(item.get("mode", "0750"), "directories.mode"), exist_ok=True)
                written.append(path)
        for item in files:
            path = os.path.expanduser(str(item["path"]))
            data = to_bytes(item.get("content", ""), errors="surrogate_or_strict")
            mode = _mode(item.get("mode", "0640"), "files.mode")
            current = _read(path)
            if current == data and (os.stat(path).st_mode & 0o7777) == mode:
                continue
            if not check:
                _write_atomic(path, data, mode)
            written.append(path)
        for item in appends:
            path = os.path.expanduser(str(item["path"]))
            line = to_bytes(str(item.get("line", "")), errors="surrogate_or_strict")
            current = _read(path)
            # As lineinfile: a line already in the file is not added twice (a re-run of the same record).
            if current is not None and line in current.splitlines():
                continue
            if not check:
                prefix = b"" if not current or current.endswith(b"\n") else b"\n"
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                fd = os.open(path, flags, _mode(item.get("mode", "0640"), "append.mode"))
                with os.fdopen(fd, "ab") as handle:
                    handle.write(prefix + line + b"\n")
            written.append(path)
        result.update(changed=bool(written), written=written, check_mode=check)
        facts = args.get("facts") or {}
        if not isinstance(facts, dict):
            raise AnsibleActionFail("facts must be a dict of fact names and values")
        if facts:
            # As set_fact: the host's facts, for the next tasks (a role's published path without a task of its own).
            result["ansible_facts"] = facts
        return result
