# Shared fixtures: the project's module_utils and library importable as Ansible sees them,
# one throwaway MariaDB server per test session, a fresh database per test.
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.module_runner import use_local_code  # noqa: E402

use_local_code()

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from tools.devstack.mariadb_server import INSTALL_HINT, MariaDBServer, find_binary  # noqa: E402

# The `chaos` marker, record_figures and --chaos-report (make chaos).
pytest_plugins = ("tests.support.chaos_report",)


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """The session's own MariaDB server (own datadir, port and socket)."""
    if not find_binary("mariadbd", "mysqld"):
        pytest.exit(INSTALL_HINT, returncode=3)
    server = MariaDBServer(tmp_path_factory.mktemp("mariadb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database(mariadb):
    """A new empty database for one test; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
    yield name
    if mariadb.process is not None:
        with mariadb.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % name)


@pytest.fixture
def admin_cursor(mariadb, database):
    """An autocommit cursor as the server's root user, inside the test's database."""
    with mariadb.admin_cursor(database) as cur:
        yield cur


class ModuleResult(dict):
    """exit_json/fail_json output of an in-process module run."""

    @property
    def failed(self):
        return bool(self.get("failed"))


def run_module(module, args, check_mode=False, capsys=None):
    """Run an Ansible module's main() in-process and return its JSON result."""
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out if capsys else ""
    return ModuleResult(json.loads(out))


@pytest.fixture
def module_runner(capsys):
    def runner(module, args, check_mode=False):
        return run_module(module, args, check_mode=check_mode, capsys=capsys)

    return runner


@pytest.fixture(scope="session")
def project_root():
    return ROOT


@pytest.fixture(scope="session")
def ansible_env():
    """Environment for ansible-playbook subprocesses run from the project root."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    # Every task's result as Ansible's default callback prints it (the console is tested on its own).
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.builtin.default"
    return env


def pytest_configure(config):
    # The safety suite's marker (make chaos); registering it twice is harmless.
    config.addinivalue_line("markers", "chaos: safety suite (make chaos)")


def pytest_collection_modifyitems(config, items):
    # Unit tests are cheap and handle times (records, retention, monitor windows): all run again
    # under faketime by make clock.
    unit = ROOT / "tests" / "unit"
    for item in items:
        if unit in item.path.parents:
            item.add_marker(pytest.mark.clock)
        # slow and stack (pytest.ini) follow from what a test uses, so no test has to remember them.
        if "run_playbook" in vars(getattr(item, "module", None) or object()):
            item.add_marker(pytest.mark.slow)
        if "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def figures(request):
    """record_figures of the safety suite's report when that plugin is loaded, else a no-op."""
    try:
        return request.getfixturevalue("record_figures")
    except pytest.FixtureLookupError:
        return lambda values=None, **more: dict(values or {}, **more)
