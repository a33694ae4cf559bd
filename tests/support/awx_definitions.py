# Offline proofs of the AWX configuration in awx/: no controller can run here, so each rule the
# controller (or the awx.awx module) would enforce is checked on the definitions themselves.
#
#  - module_specs(): an argument spec per awx.awx module, built from `ansible-doc --json`.
#  - static_tasks() / check_task_parameters(): every awx.awx task of awx/*.yml against its
#    module's documented options (ansible-lint does not catch a bogus parameter there).
#  - record_definitions(): runs awx/configure.yml as Ansible would, with a stand-in awx.awx
#    collection whose action plugins validate the rendered arguments with ArgumentSpecValidator
#    and record them instead of calling a controller; the rules below then read what the
#    controller would have received.
#  - check_survey(), check_workflow(), check_edge_notifications(), check_rrule(),
#    render_injectors(), role_inputs(): AWX's survey rules, the workflow graph, the schedules,
#    the credential type's injection, and the variables a playbook accepts.
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from functools import cache
from pathlib import Path

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AWX_DIR = ROOT / "awx"
PLAYBOOK = AWX_DIR / "configure.yml"
DEMO_VAULT_PASSWORD = "jsonmend-demo-vault"  # the documented password of the example vault files

# AWX's survey question types and the Python type a default must have (awx.main.models.mixins).
SURVEY_TYPES = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str, "integer": int, "float": (float, int)}
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# AWX's schedule format: DTSTART with a time zone (or UTC 'Z'), then one RRULE with a FREQ.
RRULE = re.compile(r"^DTSTART(;TZID=[A-Za-z0-9_/+-]+)?:\d{8}T\d{6}Z?\s+RRULE:(?P<rule>[A-Z0-9=;,+-]+)$")
RRULE_FREQS = {"MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}  # AWX refuses SECONDLY
EDGE_OUTCOME = {"success_nodes": ("success",), "failure_nodes": ("error",), "always_nodes": ("success", "error")}

# The whole launch-time interface, per job template (tests/awx: the surveys ask exactly these). A variable added to a survey must be added here, on purpose.
LAUNCH_VARIABLES = {
    "Diagnose": set(),
    "Backup": {"jsonmend_backup_scope"},
    "Deploy": {"jsonmend_strategy", "jsonmend_confirm", "jsonmend_investigation_ack", "jsonmend_strategy_d_approval", "jsonmend_app_version"},
    "Cleanup": {"jsonmend_confirm"},
    "Rollback": {
        "jsonmend_rollback_scope",
        "jsonmend_rollback_method",
        "jsonmend_rollback_run_id",
        "jsonmend_rollback_code_method",
        "jsonmend_rollback_ref",
        "jsonmend_confirm",
    },
    "Emergency rollback": {"backup_restore_id", "jsonmend_rollback_ref", "jsonmend_confirm"},
    "Weekly check": set(),
    "Monitor": set(),
    "Guard": {"jsonmend_guard_mode", "jsonmend_guard_force", "jsonmend_guard_enforce_with", "jsonmend_confirm"},
    "Fleet diagnose": set(),
    "Fleet weekly check": set(),
    "Fleet monitor": set(),
    "Fleet cleanup": {"jsonmend_fleet_stage", "jsonmend_fleet_batches", "jsonmend_fleet_max_fail_percentage", "jsonmend_confirm"},
    "Fleet deploy": {
        "jsonmend_app_version",
        "jsonmend_investigation_ack",
        "jsonmend_strategy_d_approval",
        "jsonmend_fleet_batches",
        "jsonmend_fleet_max_fail_percentage",
        "jsonmend_confirm",
    },
}


# -- the modules' documented options ---------------------------------------------------------


@cache
def _docs(names):
    out = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", "module", *names], capture_output=True, text=True, check=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1")
    )
    return json.loads(out.stdout)


def argument_spec_from_doc(options):
    """An argument spec (type, elements, choices, required, aliases, default, nested options)
    from a module's documented options."""
    spec = {}
    for name, doc in options.items():
        entry = {key: doc[key] for key in ("type", "elements", "choices", "required", "aliases", "default") if key in doc}
        if entry.get("required"):
            entry.pop("default", None)
        if "suboptions" in doc:
            entry["options"] = argument_spec_from_doc(doc["suboptions"])
        spec[name] = entry
    return spec


def module_specs(modules):
    """{"awx.awx.X": argument spec} for the given module names, in one ansible-doc call."""
    docs = _docs(tuple(sorted(set(modules))))
    missing = set(modules) - set(docs)
    if missing:
        raise AssertionError("ansible-doc knows no %s: is awx.awx installed (scripts/awx_collection.py)?" % ", ".join(sorted(missing)))
    return {name: argument_spec_from_doc(doc["doc"]["options"]) for name, doc in docs.items()}


def validate(spec, params):
    """ArgumentSpecValidator's error messages for params (empty when they are valid)."""
    return list(ArgumentSpecValidator(spec).validate(params).error_messages)


# -- the tasks as written ---------------------------------------------------------------------


def _load(path):
    return DataLoader().load_from_file(str(path)) or []


def _walk(tasks, path, seen, top):
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for section in ("block", "rescue", "always"):
            yield from _walk(task.get(section), path, seen, top)
        for key, value in task.items():
            if key in ("ansible.builtin.import_tasks", "ansible.builtin.include_tasks", "import_tasks", "include_tasks"):
                name = value if isinstance(value, str) else value.get("file")
                target = next((base / name for base in (path.parent, top) if (base / name).is_file()), None)
                if target and target not in seen:
                    seen.add(target)
                    yield from _walk(_load(target), target, seen, top)
            elif key.startswith("awx.awx."):
                yield dict(file=str(path.relative_to(top.parent)), name=task.get("name", ""), module=key, args=value or {}, no_log=task.get("no_log", False))


def static_tasks(playbook=PLAYBOOK):
    """Every awx.awx task of the playbook and the task files it imports, as written."""
    playbook = Path(playbook)
    tasks = []
    for play in _load(playbook):
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            tasks.extend(_walk(play.get(section), playbook, set(), playbook.parent))
    return tasks


def _templated(value):
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False


def check_task_parameters(tasks, specs):
    """Errors for each task whose parameters its module does not document, or whose literal
    values have the wrong type or are outside the choices (templated values are checked once
    rendered, by record_definitions)."""
    errors = []
    for task in tasks:
        spec = dict(specs[task["module"]])
        params = {}
        for key, value in task["args"].items():
            if _templated(value):
                # Known or not is decided here; the value's type once rendered.
                if key in spec:
                    spec[key] = {"type": "raw"}
                params[key] = None
            else:
                params[key] = value
        for message in validate(spec, params):
            errors.append("%s: %r (%s): %s" % (task["file"], task["name"], task["module"], message))
    return errors


# -- the definitions as the controller would receive them --------------------------------------

STAND_IN = """# Stand-in for {module} (tests/support/awx_definitions.py): validates the rendered arguments
# against the real module's documented options and records them; talks to no controller.
import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

SPEC = json.loads({spec!r})


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        errors = list(ArgumentSpecValidator(SPEC).validate(args).error_messages)
        record = dict(module={module!r}, task=self._task.get_name(), no_log=bool(self._task.no_log), params=args, errors=errors)
        with open(os.environ["JSONMEND_AWX_RECORD"], "a") as out:
            out.write(json.dumps(record, default=str) + "\\n")
        if errors:
            result.update(failed=True, msg="; ".join(errors))
        else:
            result.update(changed=False)
        return result
"""


def build_stand_in(base, specs):
    """A collection awx.awx under base/ whose action plugins are the stand-ins; returns base."""
    plugins = Path(base) / "ansible_collections" / "awx" / "awx" / "plugins" / "action"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins.parent.parent / "meta").mkdir(exist_ok=True)
    (plugins.parent.parent / "meta" / "runtime.yml").write_text("---\nrequires_ansible: '>=2.15'\n")
    for module, spec in specs.items():
        (plugins / ("%s.py" % module.split(".")[-1])).write_text(STAND_IN.format(module=module, spec=json.dumps(spec)))
    return Path(base)


def record_definitions(tmp, playbook=PLAYBOOK, extra_vars=None, specs=None):
    """Run the AWX playbook against the stand-ins; returns (CompletedProcess, [recorded calls])."""
    tmp = Path(tmp)
    specs = specs or module_specs([t["module"] for t in static_tasks(playbook)])
    build_stand_in(tmp / "collections", specs)
    record = tmp / "awx-record.jsonl"
    record.write_text("")
    vault = tmp / "vault-password"
    vault.write_text(DEMO_VAULT_PASSWORD + "\n")
    vault.chmod(0o600)
    variables = dict(
        jsonmend_awx_scm_url="https://git.example.com/ops/jsonmend.git",
        jsonmend_awx_ee_image="registry.example.com/ops/jsonmend-ee:0.1.0",
        jsonmend_awx_notification_url="https://hooks.example.com/services/T0/B0/secret",
    )
    variables.update(extra_vars or {})
    vars_file = tmp / "awx-vars.json"
    vars_file.write_text(json.dumps(variables))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(tmp / "collections"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",  # the stand-ins, never the real collection
        ANSIBLE_NOCOLOR="1",
        JSONMEND_AWX_RECORD=str(record),
    )
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), str(playbook), "-e", "@%s" % vars_file, "--vault-password-file", str(vault)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    calls = [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
    return result, calls


def calls_of(calls, module):
    return [call["params"] for call in calls if call["module"] == "awx.awx." + module]


# -- AWX's rules ------------------------------------------------------------------------------


def check_survey(survey):
    """Errors AWX would return for this survey_spec (its API validation), plus the rules a
    playbook needs: unique, valid variable names and defaults a launch would accept."""
    errors = []
    if not isinstance(survey, dict):
        return ["the survey spec is not a mapping"]
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(survey.get(field), kind):
            errors.append("field %r is missing or not a %s" % (field, kind.__name__))
    questions = survey.get("spec") if isinstance(survey.get("spec"), list) else []
    if not questions:
        errors.append("'spec' has no question")
    seen = Counter(q.get("variable") for q in questions if isinstance(q, dict))
    for index, question in enumerate(questions):
        where = "question %d (%s)" % (index, question.get("variable") if isinstance(question, dict) else "?")
        if not isinstance(question, dict):
            errors.append("%s is not a mapping" % where)
            continue
        for field in ("type", "question_name", "variable", "required"):
            if field not in question:
                errors.append("%s: %r is missing" % (where, field))
        if not isinstance(question.get("required"), bool):
            errors.append("%s: 'required' must be a boolean" % where)
        variable = question.get("variable")
        if not isinstance(variable, str) or not VARIABLE_NAME.match(variable):
            errors.append("%s: variable %r is not a valid variable name" % (where, variable))
        elif seen[variable] > 1:
            errors.append("%s: variable %r is used by %d questions" % (where, variable, seen[variable]))
        qtype = question.get("type")
        if qtype not in SURVEY_TYPES:
            errors.append("%s: type %r is not one of %s" % (where, qtype, ", ".join(SURVEY_TYPES)))
            continue
        for key in ("min", "max"):
            if question.get(key) is not None and (not isinstance(question[key], int) or isinstance(question[key], bool)):
                errors.append("%s: %s must be an integer" % (where, key))
        default = question.get("default")
        has_default = "default" in question and default != ""
        if has_default and (not isinstance(default, SURVEY_TYPES[qtype]) or isinstance(default, bool)):
            errors.append("%s: default %r is not a %s" % (where, default, qtype))
            continue
        if qtype in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            if isinstance(choices, str):
                choices = [c for c in choices.splitlines() if c.strip()]
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                errors.append("%s: a %s needs its choices as a list of strings" % (where, qtype))
                continue
            if len(set(choices)) != len(choices):
                errors.append("%s: choices repeat" % where)
            defaults = [d for d in (default.splitlines() if isinstance(default, str) else []) if d.strip()]
            if qtype == "multiplechoice" and len(defaults) > 1:
                errors.append("%s: a multiplechoice has one default" % where)
            outside = [d for d in defaults if d not in choices]
            if outside:
                errors.append("%s: default %s not among the choices %s" % (where, outside, choices))
        elif has_default:
            low, high = question.get("min"), question.get("max")
            size = len(default) if qtype in ("text", "textarea", "password") else default
            if (low is not None and size < low) or (high is not None and size > high):
                errors.append("%s: default %r is outside min %s / max %s" % (where, default, low, high))
        if question.get("required") and not has_default and qtype != "password":
            errors.append("%s: required without a default, so a schedule or workflow cannot launch it" % where)
    return errors


def check_workflow(nodes, job_templates):
    """Errors in a workflow graph (the module's workflow_nodes schema): identifiers unique, every
    edge to a node that exists, no cycle, a root, job templates that are defined, approval nodes
    with a timeout."""
    errors = []
    identifiers = [node.get("identifier") for node in nodes]
    for identifier, count in Counter(identifiers).items():
        if count > 1:
            errors.append("identifier %r is used by %d nodes" % (identifier, count))
    known = set(identifiers)
    children = {}
    for node in nodes:
        ujt = node.get("unified_job_template") or {}
        kind = ujt.get("type")
        if kind == "job_template" and ujt.get("name") not in job_templates:
            errors.append("node %r runs job template %r, which is not defined" % (node.get("identifier"), ujt.get("name")))
        elif kind == "workflow_approval" and not (isinstance(ujt.get("timeout"), int) and ujt["timeout"] > 0):
            errors.append("approval node %r has no timeout (got %r)" % (node.get("identifier"), ujt.get("timeout")))
        elif kind not in ("job_template", "workflow_approval"):
            errors.append("node %r has the unexpected type %r" % (node.get("identifier"), kind))
        for edge, targets in (node.get("related") or {}).items():
            if edge not in EDGE_OUTCOME:
                continue
            for target in targets or []:
                if target.get("identifier") not in known:
                    errors.append("node %r: %s names %r, which is not a node" % (node.get("identifier"), edge, target.get("identifier")))
                children.setdefault(node.get("identifier"), []).append(target.get("identifier"))
    targets = {t for ts in children.values() for t in ts}
    if nodes and not known - targets:
        errors.append("no root node: every node is some node's child")
    state = {}

    def visit(identifier, path):
        if state.get(identifier) == "open":
            errors.append("cycle: %s" % " -> ".join(path + [identifier]))
            return
        if state.get(identifier) == "done":
            return
        state[identifier] = "open"
        for child in children.get(identifier, []):
            visit(child, path + [identifier])
        state[identifier] = "done"

    for identifier in known:
        visit(identifier, [])
    return errors


def check_edge_notifications(workflow, job_templates):
    """Errors for each edge that fires silently: the node it leaves must notify on the outcome
    that fires it (a job template's notification_templates_<success|error>, an approval node's
    the workflow's notification_templates_approvals), and the workflow on start, success, error."""
    errors = []
    for when in ("started", "success", "error", "approvals"):
        if not workflow.get("notification_templates_%s" % when):
            errors.append("the workflow does not notify on %s" % when)
    for node in workflow.get("workflow_nodes") or []:
        ujt = node.get("unified_job_template") or {}
        for edge, targets in (node.get("related") or {}).items():
            if edge not in EDGE_OUTCOME or not targets:
                continue
            for outcome in EDGE_OUTCOME[edge]:
                if ujt.get("type") == "workflow_approval":
                    notified = workflow.get("notification_templates_approvals")
                else:
                    notified = job_templates.get(ujt.get("name"), {}).get("notification_templates_%s" % outcome)
                if not notified:
                    errors.append("edge %s -> %s fires silently: %r does not notify on %s" % (node.get("identifier"), edge, ujt.get("name"), outcome))
    return errors


def check_rrule(rrule, freq=None):
    """Errors AWX would return for a schedule's rrule (the subset of its rules this project uses)."""
    match = RRULE.match(rrule or "")
    if not match:
        return ["%r is not 'DTSTART;TZID=<zone>:YYYYMMDDTHHMMSS RRULE:...'" % rrule]
    parts = dict(part.split("=", 1) for part in match.group("rule").split(";") if "=" in part)
    errors = []
    if parts.get("FREQ") not in RRULE_FREQS:
        errors.append("FREQ %r is not one of %s" % (parts.get("FREQ"), ", ".join(sorted(RRULE_FREQS))))
    if freq and parts.get("FREQ") != freq:
        errors.append("FREQ is %r, expected %r" % (parts.get("FREQ"), freq))
    if int(parts.get("COUNT", 0)) > 999:
        errors.append("COUNT above 999")
    if re.search(r"BYDAY=[^;]*[0-9]", match.group("rule")):
        errors.append("BYDAY with a numeric prefix")
    return errors


def render_injectors(credential_type, inputs):
    """The extra vars a credential of this type injects, rendered as AWX renders them (a Jinja
    sandbox over the credential's inputs; a missing string input is undefined)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()
    namespace = {field["id"]: inputs[field["id"]] for field in credential_type["inputs"]["fields"] if field["id"] in inputs}
    return {name: env.from_string(template).render(**namespace) for name, template in credential_type["injectors"].get("extra_vars", {}).items()}


# -- what a playbook accepts ------------------------------------------------------------------

JINJA_NAME = re.compile(r"\bjsonmend_[a-z0-9_]+\b")
ROLE_REF = re.compile(r"(?:^\s*-\s*role:\s*|^\s*name:\s*)['\"]?(?P<role>[a-z_]+|\{\{[^}]*default\('(?P<fallback>[a-z_]+)'\)[^}]*\}\})['\"]?\s*$", re.M)


def roles_of(path, seen=None):
    """Roles a playbook (or role) uses, transitively: `roles:` entries and import_role /
    include_role names (a templated name counts by its default)."""
    seen = set() if seen is None else seen
    text = Path(path).read_text() if Path(path).is_file() else "\n".join(p.read_text() for p in sorted(Path(path).rglob("*.yml")))
    for match in ROLE_REF.finditer(text):
        role = match.group("fallback") or match.group("role")
        if role and (ROOT / "roles" / role).is_dir() and role not in seen:
            seen.add(role)
            roles_of(ROOT / "roles" / role / "tasks", seen)
    return seen


def role_inputs(role):
    """Variables a role accepts: its defaults, its argument specs' options (every entry point),
    and the shared jsonmend_* inputs its files read."""
    base = ROOT / "roles" / role
    names = set()
    defaults = base / "defaults" / "main.yml"
    if defaults.is_file():
        names |= set(_load(defaults) or {})
    specs = base / "meta" / "argument_specs.yml"
    if specs.is_file():
        for entry in (_load(specs) or {}).get("argument_specs", {}).values():
            names |= set((entry or {}).get("options") or {})
    for path in base.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            names |= set(JINJA_NAME.findall(path.read_text()))
    return names


def playbook_inputs(playbook):
    """Variables a playbook accepts: the jsonmend_* it reads itself, and what its roles accept."""
    path = ROOT / playbook
    names = set(JINJA_NAME.findall(path.read_text()))
    for role in roles_of(path):
        names |= role_inputs(role)
    return names
