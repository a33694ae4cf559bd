# The shared inputs checked in one pass (preflight): every problem named at once, with the variable
# the operator set, before anything runs. One task instead of one per check: on a short diagnosis
# each Ansible task costs as much as scanning thousands of rows.
from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

IDENTIFIER = re.compile(r"[A-Za-z0-9_$]{1,64}\Z")
APP_URL = re.compile(r"https?://[^/\s?#]+\Z")
# preflight_run.target key -> the variable an operator sets
REQUIRED_NAMES = (("table", "jsonmend_table"), ("column", "jsonmend_column"), ("primary_key", "jsonmend_primary_key"))
OPTIONAL_NAMES = (("group_by", "jsonmend_group_column"), ("timestamp_column", "jsonmend_timestamp_column"), ("user_column", "jsonmend_user_column"))
APP_PATHS = (("dir", "jsonmend_app_dir"), ("venv", "jsonmend_app_venv"), ("error_log", "jsonmend_app_error_log"))


def _shown(value):
    return json.dumps(value if isinstance(value, str) else str(value))


def _identifier(value):
    return isinstance(value, str) and bool(IDENTIFIER.match(value))


def input_problems(target, app, dbadmin_hosts=1, single_dbadmin=True):
    """Every problem of the resolved target and application (preflight), as sentences; [] when fine."""
    if not isinstance(target, dict) or not isinstance(app, dict):
        raise AnsibleFilterError("jsonmend_input_problems needs the resolved target and app dicts")
    problems = []
    for key, var in REQUIRED_NAMES:
        value = target.get(key)
        if not _identifier(value) or re.fullmatch(r"[0-9]+", value):
            problems.append("%s=%s is not a valid identifier: use 1-64 letters, digits, '_' or '$'" % (var, _shown(value)))
    for key, var in OPTIONAL_NAMES:
        value = target.get(key)
        if value not in ("", None) and not _identifier(value):
            problems.append("%s=%s is not a valid identifier (or empty to skip it)" % (var, _shown(value)))
    if target.get("dialect") != "sqlite" and not _identifier(target.get("database")):
        problems.append("jsonmend_db_name=%s is not a valid database name" % _shown(target.get("database")))
    if not APP_URL.match(str(app.get("url", ""))):
        problems.append("jsonmend_app_url=%s must be http(s)://host[:port], without a path" % _shown(app.get("url")))
    for key, var in APP_PATHS:
        if not str(app.get(key, "")).startswith("/"):
            problems.append("%s=%s must be an absolute path" % (var, _shown(app.get(key))))
    if single_dbadmin and int(dbadmin_hosts) != 1:
        problems.append("The inventory's dbadmin group must hold exactly one host (the one that reaches the database), it holds %d" % int(dbadmin_hosts))
    return problems


class FilterModule:
    def filters(self):
        return {"jsonmend_input_problems": input_problems}
