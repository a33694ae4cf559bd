# Every role documents and validates its knobs: a README, meta/argument_specs.yml covering every
# default, and - one ansible-playbook run for all roles - a bad value refused by the argument
# spec validation, the role's first task, so nothing of the role runs.
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.devstack.playbooks import BIN, ROOT

ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
# A value of the wrong type for each argument type (a list accepts any string: not used).
WRONG = {"int": "not-a-number", "float": "not-a-number", "bool": "maybe", "dict": "not-a-mapping"}
# A value of the right type for a required option the test is not about (defaults of other
# knobs may read preflight_run's target while they are validated).
PLACEHOLDER = {"dict": {}, "str": "x", "list": [], "int": 0, "bool": False, "float": 0.0}
PREFLIGHT_RUN = {
    "id": "x",
    "report_dir": "/nonexistent",
    "target": {"database": "d", "table": "t", "column": "c", "primary_key": "id"},
    "app": {"url": "http://127.0.0.1:8000", "dir": "/srv/app", "venv": "/srv/app/venv", "error_log": "/var/log/app.log"},
}


def load(path):
    return yaml.safe_load(Path(path).read_text()) or {}


def main_options(role):
    return load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def bad_value(role):
    """(option, wrong value): the first knob with choices, else the first int/float/bool/dict one."""
    options = main_options(role)
    knobs = [name for name in sorted(options) if name.startswith(role + "_")] + sorted(options)
    for name in knobs:
        spec = options[name]
        if spec.get("choices") and spec.get("type", "str") == "str":
            return name, "not-one-of-the-choices"
    for name in knobs:
        if options[name].get("type") in WRONG:
            return name, WRONG[options[name]["type"]]
    raise AssertionError("role %s has no knob whose type can be wrong" % role)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_has_a_readme_and_specs_for_every_default(role):
    base = ROOT / "roles" / role
    readme = (base / "README.md").read_text() if (base / "README.md").is_file() else ""
    sections = [r"^## (Role )?[Vv]ariables", r"^## (Publishes|Published facts|Facts published)", r"^## Example"]
    assert all(re.search(section, readme, re.M) for section in sections), "%s/README.md needs Variables, Publishes, Example" % role
    specs = load(base / "meta" / "argument_specs.yml")["argument_specs"]
    documented = set().union(*(set((entry or {}).get("options") or {}) for entry in specs.values()))
    assert set(load(base / "defaults" / "main.yml")) - documented == set()


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Include every role with one bad value in a block whose rescue records how it failed."""
    tmp = tmp_path_factory.mktemp("specs")
    tasks = []
    for role in ROLES:
        name, value = bad_value(role)
        required = {k: PLACEHOLDER[v.get("type", "str")] for k, v in main_options(role).items() if v.get("required")}
        required.update({"preflight_run": PREFLIGHT_RUN} if "preflight_run" in main_options(role) else {})
        tasks.append(
            {
                "name": "Refuse a bad value for %s" % role,
                "block": [
                    {"name": "Include %s" % role, "ansible.builtin.include_role": {"name": role}, "vars": dict(required, **{name: value})},
                    {"name": "Fail: %s ran past its argument validation" % role, "ansible.builtin.fail": {"msg": "not refused"}},
                ],
                "rescue": [
                    {
                        "name": "Record how %s refused" % role,
                        "ansible.builtin.set_fact": {
                            "refused": "{{ refused | default({}) | combine({%r: {'task': ansible_failed_task.name, 'action': ansible_failed_task.action,"
                            " 'msg': ansible_failed_result.msg | default(''), 'errors': ansible_failed_result.argument_errors | default([])}}) }}" % role
                        },
                    }
                ],
            }
        )
    out = tmp / "refused.json"
    tasks.append({"name": "Write the refusals", "ansible.builtin.copy": {"content": "{{ refused | to_nice_json }}", "dest": str(out), "mode": "0600"}})
    playbook = tmp / "refuse.yml"
    playbook.write_text(
        yaml.safe_dump([{"name": "Refuse bad role inputs", "hosts": "localhost", "gather_facts": False, "connection": "local", "tasks": tasks}])
    )
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(ROOT / "roles"), "ANSIBLE_NOCOLOR": "1", "PATH": "%s:/usr/bin:/bin" % BIN}
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("role", ROLES)
def test_a_bad_value_is_refused_before_any_task_runs(refusals, role):
    name, value = bad_value(role)
    refusal = refusals[role]
    # The failing task is the validation Ansible puts first in the role: nothing else of it ran.
    assert refusal["action"] == "ansible.builtin.validate_argument_spec", refusal
    assert refusal["task"].startswith("Validating arguments against arg spec 'main'")
    assert any(name in error for error in refusal["errors"]), refusal["errors"]
    assert name in refusal["msg"]
