# What a launcher can set, per job template and for the workflow (issue 14): no template asks for
# variables on launch, so the survey is the whole launch-time interface. Variables, inventory,
# credentials, limit, tags, project branch or image from a launcher could otherwise reach the
# host that holds the database password (ansible_* variables run commands there). Workflow nodes
# get values only from set_stats (named below) and their own explicit extra_data.
import copy
import re

import pytest

from tests.support import awx_definitions as awx
from tests.support.awx_definitions import LAUNCH_VARIABLES, ROOT

PREFIX = "jsonmend production - "

# The only other launch-time choices, and where: check mode (and diff) for a dry run.
OTHER_PROMPTS = {
    "Diagnose": {"job_type"},
    "Deploy": {"job_type"},
    "Cleanup": {"job_type", "diff_mode"},
    "Rollback": {"job_type"},
    "Guard": {"job_type"},
    "Fleet diagnose": {"job_type"},
    "Fleet cleanup": {"job_type"},
    "Fleet deploy": {"job_type"},
}
WORKFLOW_VARIABLES = {"jsonmend_strategy", "jsonmend_confirm", "jsonmend_investigation_ack", "jsonmend_strategy_d_approval", "jsonmend_app_version"}
FLEET_WORKFLOW_VARIABLES = {"jsonmend_fleet_batches", "jsonmend_fleet_max_fail_percentage", "jsonmend_confirm"}
# set_stats keys the playbooks publish for the nodes downstream.
HANDED_DOWN = {"jsonmend_diagnosis", "jsonmend_deploy", "jsonmend_rollback_run_id"}
# Published for the console's closing summary and AWX's job artifacts only: no playbook reads them as input,
# so a workflow that hands them down changes nothing below.
REPORTED = {"jsonmend_actions", "jsonmend_outcome", "jsonmend_record", "jsonmend_next", "jsonmend_undo"}
# ... and the fleet report, one key per fleet run ("jsonmend_fleet_report_" ~ its id): a sliced job's slices add up.
REPORTED_PER_RUN = {"jsonmend_fleet_report_"}
ANY = "<any variable>"


def launch_variables(params):
    """The extra variables a launcher can set on a job or workflow template as it is defined."""
    if params.get("ask_variables_on_launch"):
        return {ANY}
    if not params.get("survey_enabled"):
        return set()
    return {question["variable"] for question in params["survey_spec"]["spec"]}


def prompts(params):
    """Every other ask_*_on_launch that is on."""
    return {re.sub(r"^ask_|_on_launch$", "", k) for k, v in params.items() if k.startswith("ask_") and k != "ask_variables_on_launch" and v}


@pytest.fixture(scope="module")
def job_templates(awx_job_templates):
    return awx_job_templates


@pytest.fixture(scope="module")
def workflows(awx_recorded):
    return {params["name"][len(PREFIX) :]: params for params in awx.calls_of(awx_recorded, "workflow_job_template")}


@pytest.fixture(scope="module")
def workflow(workflows):
    return workflows["Diagnose, approve, deploy"]


def test_every_template_is_listed(job_templates):
    assert set(job_templates) == set(LAUNCH_VARIABLES)


@pytest.mark.parametrize("name", sorted(LAUNCH_VARIABLES))
def test_a_launcher_sets_only_the_survey(job_templates, name):
    jt = job_templates[name]
    assert jt["ask_variables_on_launch"] is False
    assert launch_variables(jt) == LAUNCH_VARIABLES[name]
    assert prompts(jt) == OTHER_PROMPTS.get(name, set())
    # Each asked variable is one the playbook reads (a typo would be silently ignored).
    assert launch_variables(jt) <= awx.playbook_inputs(jt["playbook"])
    # Template extra_vars are fixed by configure.yml, never by a launcher: nothing connection-like.
    assert not [k for k in jt["extra_vars"] if k.startswith(("ansible_", "jsonmend_db_", "backup_dir"))]


def test_the_workflow_asks_only_its_survey_and_nodes_pass_values_explicitly(workflow, job_templates):
    assert workflow["ask_variables_on_launch"] is False and prompts(workflow) == set()
    assert launch_variables(workflow) == WORKFLOW_VARIABLES
    by_name = {PREFIX + short: jt for short, jt in job_templates.items()}
    for node in workflow["workflow_nodes"]:
        if node["unified_job_template"]["type"] != "job_template":
            continue
        jt = by_name[node["unified_job_template"]["name"]]
        # AWX accepts a node's extra_data only for the template's survey variables: say so here.
        assert set(node.get("extra_data") or {}) <= launch_variables(jt), node["identifier"]
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    assert nodes["rollback"]["extra_data"] == {"jsonmend_rollback_scope": "both", "jsonmend_rollback_method": "undo"}


def test_what_flows_down_the_workflow_is_published_by_set_stats_and_read_below(job_templates):
    published = set()
    for path in list((ROOT / "roles").glob("*/tasks/*.yml")) + list((ROOT / "playbooks").glob("*.yml")):
        text = path.read_text()
        for block in re.findall(r"ansible\.builtin\.set_stats:\n\s+data:\n((?:\s{6,}.*\n)+)", text):
            published |= set(re.findall(r"^\s{6}(\w+):", block, re.M))
            published |= set(re.findall(r"^\s{6}\"\{\{ '(jsonmend_\w+)' ~ ", block, re.M))
    assert published == HANDED_DOWN | REPORTED | REPORTED_PER_RUN
    # ... and nothing reads the reported ones: no expression or condition of a role or playbook names them.
    read = set()
    for path in list((ROOT / "roles").glob("*/*/*.y*ml")) + list((ROOT / "roles").glob("*/templates/*")) + list((ROOT / "playbooks").glob("*.yml")):
        text = path.read_text()
        expressions = re.findall(r"\{\{.*?\}\}|\{%.*?%\}", text, re.S) + re.findall(r"^\s*(?:when|that|until|failed_when|changed_when):.*$", text, re.M)
        for expression in expressions:
            read |= set(re.findall(r"\bjsonmend_\w+", expression)) & REPORTED
            read |= {n for n in re.findall(r"\bjsonmend_fleet_report_\w*", expression) if "set_stats" not in text}
    assert read == set()
    deploy_inputs = awx.playbook_inputs(job_templates["Deploy"]["playbook"])
    rollback_inputs = awx.playbook_inputs(job_templates["Rollback"]["playbook"])
    assert "jsonmend_diagnosis" in deploy_inputs and "jsonmend_rollback_run_id" in rollback_inputs


def test_a_template_that_asks_for_variables_or_more_is_caught(job_templates):
    jt = copy.deepcopy(job_templates["Rollback"])
    jt["ask_variables_on_launch"] = True
    assert launch_variables(jt) == {ANY} != LAUNCH_VARIABLES["Rollback"]
    jt = copy.deepcopy(job_templates["Diagnose"])
    jt["ask_inventory_on_launch"] = True
    assert prompts(jt) == {"job_type", "inventory"}
    jt = copy.deepcopy(job_templates["Backup"])
    jt["survey_spec"]["spec"].append(dict(jt["survey_spec"]["spec"][0], variable="backup_dir"))
    assert launch_variables(jt) - LAUNCH_VARIABLES["Backup"] == {"backup_dir"}


def test_the_fleet_workflow_asks_only_its_survey_and_its_nodes_only_their_stage(workflows, job_templates):
    fleet = workflows["Fleet diagnose, approve, canary, approve, batches"]
    assert fleet["ask_variables_on_launch"] is False and prompts(fleet) == set()
    assert launch_variables(fleet) == FLEET_WORKFLOW_VARIABLES
    by_name = {PREFIX + short: jt for short, jt in job_templates.items()}
    for node in fleet["workflow_nodes"]:
        if node["unified_job_template"]["type"] == "job_template":
            assert set(node.get("extra_data") or {}) <= launch_variables(by_name[node["unified_job_template"]["name"]]), node["identifier"]
    # Every answer of the workflow's survey is one the cleanup template's survey asks too (AWX passes it to the node).
    assert FLEET_WORKFLOW_VARIABLES <= LAUNCH_VARIABLES["Fleet cleanup"]
