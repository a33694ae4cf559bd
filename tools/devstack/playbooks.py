# Run the project's playbooks as an operator would: ansible-playbook from the repository
# root, with connection settings in an extra-vars file (never on the command line).
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def db_vars(mariadb, database, **extra):
    """The shared jsonmend_db_* inputs that reach the test server as the tool's user."""
    values = dict(
        jsonmend_db_host="127.0.0.1",
        jsonmend_db_port=mariadb.port,
        jsonmend_db_user="jsonmend",
        jsonmend_db_password=mariadb_password(),
        jsonmend_db_config_file="",
        jsonmend_db_name=database,
    )
    values.update(extra)
    return values


def postgres_db_vars(postgres, database, **extra):
    """The shared jsonmend_db_* inputs that reach the throwaway PostgreSQL as the tool's role.

    jsonmend_db_config_file is emptied: the local inventory names the demo's MySQL option file,
    which preflight refuses on PostgreSQL.
    """
    from tools.devstack.mariadb_server import TOOL_USER

    values = dict(
        jsonmend_db_host="127.0.0.1",
        jsonmend_db_port=postgres.port,
        jsonmend_db_user=TOOL_USER,
        jsonmend_db_password=mariadb_password(),
        jsonmend_db_config_file="",
        jsonmend_db_dialect="postgresql",
        jsonmend_db_name=database,
    )
    values.update(extra)
    return values


def mariadb_password():
    from tools.devstack.mariadb_server import TOOL_PASSWORD

    return TOOL_PASSWORD


def run_playbook(playbook, variables, tmp_path, check=False, verbosity=0, extra_args=(), env=None, timeout=900, stdin=None, console=False):
    """ansible-playbook playbooks/<playbook> -e @vars.json; returns the CompletedProcess (text).

    stdin=subprocess.DEVNULL makes prompts (ansible.builtin.pause) see no terminal, as under AWX.
    The tests read every task's result, as Ansible's default callback prints it; console=True
    shows what an operator sees (the jsonmend_console callback of ansible.cfg).
    """
    vars_file = Path(tmp_path) / ("vars-%s.json" % os.getpid())
    vars_file.write_text(json.dumps(variables))
    vars_file.chmod(0o600)
    path = playbook if "/" in playbook else "playbooks/%s" % playbook
    cmd = [str(BIN / "ansible-playbook"), path, "-e", "@%s" % vars_file]
    if check:
        cmd.append("--check")
    if verbosity:
        cmd.append("-" + "v" * verbosity)
    cmd += list(extra_args)
    run_env = dict(os.environ)
    run_env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", PATH="%s:%s" % (BIN, os.environ.get("PATH", "")))
    if not console:
        run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    run_env.update(env or {})
    return subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=timeout, check=False, stdin=stdin)
