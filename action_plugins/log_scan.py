# The log_scan module (library/log_scan.py) in Ansible's own process when the host is the controller
# itself (a local connection without become: the usual demo and single-machine app host). A monitor runs
# every few minutes, and the module process - Python, Ansible's module runtime, the module's payload built
# and piped - cost more than the read of a few kilobytes of log. Anywhere else (ssh, become, async) the
# module runs as usual. Same arguments, checks and result: the action runs the module's own code.
from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import stat

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError
from ansible.plugins.action import ActionBase
from ansible.utils.vars import merge_hash

LOCAL_CONNECTIONS = ("local", "ansible.builtin.local", "ansible.legacy.local")


class _Failed(Exception):
    """module.fail_json's result, raised out of the module's code."""

    def __init__(self, result):
        super().__init__(result.get("msg"))
        self.result = result


class _Module:
    """What the module's code uses of AnsibleModule: params, check_mode and fail_json."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode

    def fail_json(self, msg, **kwargs):
        raise _Failed(dict(kwargs, failed=True, msg=msg))


def _path_info(result):
    """What AnsibleModule.exit_json adds for a result with a path: the file's owner, group, mode, state, size."""
    path = result.get("path")
    if not path or not os.path.exists(path):
        return result
    found = os.lstat(path)
    try:
        owner = pwd.getpwuid(found.st_uid)[0]
    except KeyError:
        owner = str(found.st_uid)
    try:
        group = grp.getgrgid(found.st_gid)[0]
    except KeyError:
        group = str(found.st_gid)
    if os.path.islink(path):
        state = "link"
    elif os.path.isdir(path):
        state = "directory"
    elif os.stat(path).st_nlink > 1:
        state = "hard"
    else:
        state = "file"
    result.update(uid=found.st_uid, gid=found.st_gid, owner=owner, group=group, mode="0%03o" % stat.S_IMODE(found.st_mode), state=state, size=found.st_size)
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    # As the module under Ansible's own action (normal): check mode and async (the module's process then).
    _supports_check_mode = True
    _supports_async = True

    def _runs_here(self):
        connection = getattr(self._connection, "_load_name", None) or getattr(self._connection, "transport", "")
        return connection in LOCAL_CONNECTIONS and not self._play_context.become and not self._task.async_val

    def _module_code(self):
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(self._task.action, collection_list=self._task.collections)
        spec = importlib.util.spec_from_file_location("jsonmend_log_scan_module", found.plugin_resolved_path)
        code = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(code)
        return code

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        if not self._runs_here():
            wrap_async = self._task.async_val and not self._connection.has_native_async
            result = merge_hash(result, self._execute_module(module_name=self._task.action, task_vars=task_vars, wrap_async=wrap_async))
            if not wrap_async:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            return result
        code = self._module_code()
        validated = ArgumentSpecValidator(code.ARGUMENT_SPEC).validate(dict(self._task.args))
        if validated.error_messages:
            # As AnsibleModule words it.
            msg = validated.errors.msg
            if isinstance(validated.errors[0], UnsupportedError):
                msg = "Unsupported parameters for (log_scan) module: %s" % msg
            result.update(failed=True, msg=msg)
            return result
        params = validated.validated_parameters
        try:
            result.update(_path_info(code.run(_Module(params, self._task.check_mode))))
        except _Failed as failure:
            result.update(_path_info(failure.result))
        result["invocation"] = dict(module_args=params)
        return result
