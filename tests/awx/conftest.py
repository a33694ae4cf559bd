# The AWX definitions as the controller would receive them, recorded once per session.
import pytest

from tests.support import awx_definitions as awx


@pytest.fixture(scope="session")
def awx_specs():
    return awx.module_specs([task["module"] for task in awx.static_tasks()])


@pytest.fixture(scope="session")
def awx_recorded(tmp_path_factory, awx_specs):
    """awx/configure.yml run against the stand-ins: every call the controller would receive."""
    result, calls = awx.record_definitions(tmp_path_factory.mktemp("awx"), specs=awx_specs)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return calls


@pytest.fixture(scope="session")
def awx_job_templates(awx_recorded):
    """{short name: job template params}, e.g. awx_job_templates["Diagnose"]."""
    return {params["name"].split(" - ", 1)[1]: params for params in awx.calls_of(awx_recorded, "job_template")}


@pytest.fixture(scope="session")
def awx_credential_type(awx_recorded):
    (params,) = awx.calls_of(awx_recorded, "credential_type")
    return params
