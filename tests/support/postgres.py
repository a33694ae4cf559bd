# The variables a PostgreSQL playbook test gives ansible-playbook: one helper for the playbook tests
# without an application (test_postgres_playbooks.py) and the deploy-night tests with quizsite
# (test_postgres_deploy.py, test_postgres_night.py), which used to build the same mapping each.
from __future__ import annotations

from pathlib import Path

from tools.devstack.playbooks import postgres_db_vars


def pg_vars(postgres, database, base, **extra):
    """The tool's role on `database` of the throwaway cluster, with the run's reports, backups and
    repair control files under `base`; `extra` last (a stack's ansible_vars(), jsonmend_confirm...)."""
    base = Path(base)
    values = postgres_db_vars(
        postgres,
        database,
        jsonmend_report_dir=str(base / "reports"),
        cleanup_control_dir=str(base / "control"),
        backup_dir=str(base / "backups"),
        backup_create_dir=True,
    )
    values.update(extra)
    return values
