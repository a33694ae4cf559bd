# The database connection is written in one place (playbooks/vars/db_connection.yml, issue 16) and
# reaches every project module through module_defaults: no task repeats the login block, and every
# play that runs a project database module (itself or through its roles) hands the block over.
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_FILE = ROOT / "playbooks" / "vars" / "db_connection.yml"
YAML_DIRS = ("roles", "playbooks", "molecule", "tests/playbooks")
LOGIN_KEYS = re.compile(r"^\s*(login_host|login_port|login_user|login_password|login_unix_socket|config_file):", re.M)
# The project's modules that connect to the database (their documentation takes the connection fragment).
DB_MODULES = sorted(path.stem for path in (ROOT / "library").glob("*.py") if "- jsonmend_connection" in path.read_text(encoding="utf-8"))


def yaml_files():
    for folder in YAML_DIRS:
        yield from sorted((ROOT / folder).rglob("*.yml"))


def test_the_login_block_is_written_once():
    written = [str(path.relative_to(ROOT)) for path in yaml_files() if LOGIN_KEYS.search(path.read_text(encoding="utf-8"))]
    assert written == ["playbooks/vars/db_connection.yml"]


def test_the_connection_holds_every_login_input():
    connection = yaml.safe_load(CONNECTION_FILE.read_text(encoding="utf-8"))["jsonmend_db_connection"]
    login = {"login_host", "login_port", "login_user", "login_password", "login_unix_socket", "config_file", "dialect", "database"}
    # PostgreSQL's counterparts of the option file (issue 18).
    assert login | {"passfile", "service", "service_file"} == set(connection)


def modules_used(role, seen=None):
    """The project DB modules a role's tasks call, and those of the roles it includes."""
    seen = set() if seen is None else seen
    if role in seen:
        return set()
    seen.add(role)
    used = set()
    for path in (ROOT / "roles" / role / "tasks").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        used |= {m for m in DB_MODULES if re.search(r"ansible\.legacy\.%s:" % m, text)}
        for included in re.findall(r"^\s+name: ([a-z_]+)\s*$", text, re.M):
            if (ROOT / "roles" / included).is_dir():
                used |= modules_used(included, seen)
    return used


def play_files():
    yield from sorted((ROOT / "playbooks").glob("*.yml"))
    yield from sorted((ROOT / "tests" / "playbooks").glob("*.yml"))
    yield from sorted((ROOT / "molecule" / "default").glob("*.yml"))


def test_every_play_that_runs_a_db_module_gets_the_connection():
    missing = []
    for path in play_files():
        for play in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            if "hosts" not in play:
                continue
            text = yaml.safe_dump(play)
            # Whole names: ansible.legacy.db_backup_catalog (no database) is not ansible.legacy.db_backup.
            used = {m for m in DB_MODULES if re.search(r"ansible\.legacy\.%s\b" % m, text)}
            for role in re.findall(r"name: ([a-z_]+)\n", text) + re.findall(r"role: ([a-z_]+)\n", text):
                if (ROOT / "roles" / role).is_dir():
                    used |= modules_used(role)
            defaults = play.get("module_defaults") or {}
            lacking = sorted(m for m in used if defaults.get("ansible.legacy.%s" % m) != "{{ jsonmend_db_connection }}")
            if lacking:
                missing.append((str(path.relative_to(ROOT)), play["name"], lacking))
    assert not missing


def test_the_modules_list_is_what_the_library_holds():
    assert "json_type_scan" in DB_MODULES and "db_backup_catalog" not in DB_MODULES


def db_module_tasks(tasks):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always", "pre_tasks", "tasks", "post_tasks"):
            yield from db_module_tasks(task.get(key))
        if any("ansible.legacy.%s" % m in task for m in DB_MODULES):
            yield task


def test_every_task_that_gets_the_password_hides_it():
    # module_defaults put the password into the task's arguments: each such task needs its own no_log.
    open_tasks = []
    for path in list(yaml_files()):
        for task in db_module_tasks(yaml.safe_load(path.read_text(encoding="utf-8")) if path.suffix == ".yml" else []):
            if task.get("no_log") is not True:
                open_tasks.append((str(path.relative_to(ROOT)), task.get("name")))
    assert not open_tasks
