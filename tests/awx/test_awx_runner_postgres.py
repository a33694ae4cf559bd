# The Diagnose template launched as AWX launches it (tests/support/awx_runner.py) with a "jsonmend
# database" credential whose server is PostgreSQL: the credential's dialect field reaches the roles,
# the scan counts the corrupt rows of a jsonb table, and the password is in no artifact.
import sys

import pytest

from tests.support.awx_runner import launch
from tools.devstack import pg_seed
from tools.devstack.postgres_server import TOOL_PASSWORD, TOOL_USER, PostgresServer

CORRUPT = 12


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def pg_awx_db(postgres):
    name = postgres.create_database("awx_pg")
    with postgres.connect(name) as conn:
        pg_seed.create_table(conn)
        pg_seed.seed(conn, 2000 - CORRUPT, corrupt_percent=0, null_percent=5)
        conn.execute(
            "INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at)"
            " SELECT 7, 'quiz_completed', '3.5', now() FROM generate_series(1, %d)" % CORRUPT
        )
    return name


def test_diagnose_reaches_postgresql_through_the_credential(awx_job_templates, awx_credential_type, postgres, pg_awx_db, tmp_path):
    inputs = dict(dialect="postgresql", host="127.0.0.1", port=str(postgres.port), username=TOOL_USER, password=TOOL_PASSWORD, database=pg_awx_db)
    inventory_vars = dict(
        jsonmend_environment="awx-test",
        jsonmend_db_config_file="",
        jsonmend_report_dir=str(tmp_path / "reports"),
        metrics_textfile_dir=str(tmp_path / "prom"),
    )
    host_vars = dict(ansible_connection="local", ansible_python_interpreter=sys.executable)
    result = launch(awx_job_templates["Diagnose"], awx_credential_type, inputs, tmp_path, host_vars=host_vars, inventory_vars=inventory_vars)
    assert (result.status, result.rc) == ("successful", 0), result.stdout[-4000:]
    stats = result.artifact_data["jsonmend_diagnosis"]
    assert (stats["corrupted_rows"], stats["total_rows"], stats["strategy"]) == (CORRUPT, 2000, "B")
    leaks = [p.name for p in result.artifact_files() if TOOL_PASSWORD in p.read_text(errors="replace")]
    assert leaks == [] and TOOL_PASSWORD not in result.stdout
