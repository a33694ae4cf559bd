# Launch a job template's playbook the way AWX does, without AWX: a private data dir laid out as
# AWX lays it out for ansible-runner, from the job template as awx/configure.yml defines it.
#
#   env/extravars      the template's extra vars, AWX's awx_* job facts, the survey answers (and,
#                      in a workflow, the artifacts of the nodes upstream), YAML in which every value
#                      but the template's own is tagged !unsafe (AWX's safe_dump)
#   env/<tmp file>     the credential type's injected extra vars, mode 0400, passed as -e @file
#                      (AWX's inject_credential), so the password is in neither extravars nor argv
#   env/cmdline        --check for job type check, --diff, -e @<credential file>
#   env/envvars        the variables AWX sets for a job (ANSIBLE_ROLES_PATH from the project's
#                      ansible.cfg, ANSIBLE_HOST_KEY_CHECKING, JOB_ID, ...)
#   inventory/hosts    the inventory as AWX writes it: an executable that prints the JSON
#   project            the repository itself (AWX syncs it into the private data dir)
from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import ansible_runner
import yaml

from tests.support.awx_definitions import BIN, ROOT, render_injectors

UNSAFE = "!unsafe"


class _UnsafeDumper(yaml.SafeDumper):
    """Strings as `!unsafe '...'` (awx.main.utils.safe_yaml.SafeStringDumper)."""


def _unsafe_str(dumper, value):
    return dumper.represent_scalar(UNSAFE, value)


_UnsafeDumper.add_representer(str, _unsafe_str)


def safe_dump(data, safe_dict=None):
    """AWX's safe_dump: a top-level key keeps plain YAML only when the template itself set
    exactly that value; every other string (survey answers, credentials, artifacts) is !unsafe,
    so Ansible never renders Jinja that a launcher typed."""
    safe_dict = safe_dict or {}
    out = []
    for key, value in data.items():
        dumper = yaml.SafeDumper if key in safe_dict and safe_dict[key] == value else _UnsafeDumper
        out.append(yaml.dump({key: value}, Dumper=dumper, default_flow_style=False))
    return "".join(out)


def survey_answers(survey, answers):
    """The extra vars a survey launch adds: each answer, else the question's default; refuses a
    missing required answer or one outside the choices, as AWX does at launch."""
    values = {}
    for question in (survey or {}).get("spec", []):
        variable = question["variable"]
        if variable in answers:
            value = answers[variable]
        elif question.get("default", "") != "":
            value = question["default"]
        elif question["required"]:
            raise ValueError("survey question %r (%s) is required" % (question["question_name"], variable))
        else:
            continue
        if question["type"] == "multiplechoice" and value not in question["choices"]:
            raise ValueError("%r is not a choice of %s: %s" % (value, variable, question["choices"]))
        values[variable] = value
    unknown = set(answers) - set(values)
    if unknown:
        raise ValueError("not survey questions: %s" % sorted(unknown))
    return values


def awx_meta_vars(job_id, template, user="ops-alice", workflow=None):
    """The awx_* (and legacy tower_*) extra vars AWX gives every job (Job.awx_meta_vars)."""
    meta = dict(
        job_id=job_id,
        job_launch_type="workflow" if workflow else "manual",
        job_template_id=17,
        job_template_name=template,
        project_revision="0" * 40,
        project_scm_branch="main",
        user_id=3,
        user_name=user,
        user_email="%s@example.com" % user,
        user_first_name="",
        user_last_name="",
        inventory_id=5,
        inventory_name="jsonmend test",
        execution_node="awx-task-0",
    )
    if workflow:
        meta.update(workflow_job_id=workflow["id"], workflow_job_name=workflow["name"], workflow_job_launch_type="manual")
    return {"%s_%s" % (prefix, key): value for prefix in ("awx", "tower") for key, value in meta.items()}


def write_inventory(pdd, host_vars, all_vars):
    """inventory/hosts as AWX writes it: one executable printing the inventory script's JSON.
    dbadmin and app both hold `localhost`, the machine standing in for the servers."""
    data = {
        "all": {"vars": all_vars, "children": ["dbadmin", "app", "ungrouped"]},
        "dbadmin": {"hosts": ["localhost"]},
        "app": {"hosts": ["localhost"]},
        "_meta": {"hostvars": {"localhost": dict(host_vars, remote_tower_enabled="true", remote_tower_id=1)}},
    }
    path = Path(pdd) / "inventory" / "hosts"
    path.parent.mkdir(parents=True)
    path.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(data))
    path.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IXUSR)


def awx_envvars(pdd, job_id):
    """What AWX's RunJob.build_env adds for a job (paths as in its execution environment)."""
    return dict(
        ANSIBLE_ROLES_PATH=os.pathsep.join(
            [str(Path(pdd) / "requirements_roles"), "roles", "~/.ansible/roles", "/usr/share/ansible/roles", "/etc/ansible/roles"]
        ),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_INVENTORY_UNPARSED_FAILED="True",
        ANSIBLE_PARAMIKO_RECORD_HOST_KEYS="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        AWX_PRIVATE_DATA_DIR=str(pdd),
        JOB_ID=str(job_id),
        INVENTORY_ID="5",
        PROJECT_REVISION="0" * 40,
        # The execution environment's ansible-playbook: here, this virtualenv's.
        PATH="%s:%s" % (BIN, os.environ.get("PATH", "/usr/bin:/bin")),
    )


class Job:
    """A finished ansible-runner job: status, rc, events, artifacts, and the set_stats data."""

    def __init__(self, runner, pdd):
        self.runner = runner
        self.pdd = Path(pdd)
        self.status = runner.status
        self.rc = runner.rc
        self.events = list(runner.events)
        self.stdout = runner.stdout.read()
        self.artifacts = Path(runner.config.artifact_dir)

    def tasks(self, event):
        return [e["event_data"].get("task") for e in self.events if e.get("event") == event]

    @property
    def artifact_data(self):
        """The job's artifacts: what AWX hands to the nodes downstream."""
        (stats,) = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return stats["event_data"]["artifact_data"]

    def artifact_files(self):
        return [p for p in self.artifacts.rglob("*") if p.is_file()]


def launch(
    job_template, credential_type, credential_inputs, workdir, answers=None, job_type=None, host_vars=None, inventory_vars=None, upstream=None, job_id=4242
):
    """Run `job_template` (the params awx/configure.yml gives awx.awx.job_template) as AWX would.

    upstream: artifacts of the workflow nodes before this one, passed as extra vars.
    """
    pdd = Path(tempfile.mkdtemp(prefix="awx-job-", dir=workdir))
    env = pdd / "env"
    env.mkdir(mode=0o700)
    template_vars = dict(job_template.get("extra_vars") or {})
    workflow = {"id": 900, "name": "jsonmend test - Diagnose, approve, deploy"} if upstream is not None else None
    extravars = dict(template_vars)
    extravars.update(awx_meta_vars(job_id, job_template["name"], workflow=workflow))
    extravars.update(upstream or {})
    if job_template.get("survey_enabled"):
        # An upstream artifact answers a question of the same name; a survey default fills the rest.
        asked = {q["variable"] for q in job_template["survey_spec"].get("spec", [])}
        provided = {name: value for name, value in (upstream or {}).items() if name in asked}
        provided.update(answers or {})
        extravars.update(survey_answers(job_template["survey_spec"], provided))
    elif answers:
        raise ValueError("%s has no survey" % job_template["name"])
    (env / "extravars").write_text(safe_dump(extravars, safe_dict=template_vars))

    handle, credential_file = tempfile.mkstemp(dir=env)
    with os.fdopen(handle, "w") as out:
        out.write(safe_dump(render_injectors(credential_type, credential_inputs)))
    os.chmod(credential_file, stat.S_IRUSR)

    args = []
    kind = job_type or job_template.get("job_type", "run")
    if kind not in ("run", "check"):
        raise ValueError("job type %r" % kind)
    if kind != job_template.get("job_type", "run") and not job_template.get("ask_job_type_on_launch"):
        raise ValueError("%s does not ask for the job type on launch" % job_template["name"])
    if kind == "check":
        args.append("--check")
    args += ["-e", "@%s" % credential_file]
    write_inventory(pdd, host_vars or {}, inventory_vars or {})
    (env / "settings").write_text(json.dumps({"job_timeout": 0, "pexpect_timeout": 5, "suppress_ansible_output": True}))

    # AWX runs with the project's own ansible.cfg (the job's working directory), not a caller's.
    saved = {name: os.environ.pop(name) for name in list(os.environ) if name.startswith("ANSIBLE_")}
    try:
        runner = ansible_runner.run(
            private_data_dir=str(pdd),
            project_dir=str(ROOT),
            playbook=job_template["playbook"],
            ident=str(job_id),
            cmdline=" ".join(args),
            envvars=awx_envvars(pdd, job_id),
            quiet=True,
        )
    finally:
        os.environ.update(saved)
    return Job(runner, pdd)
