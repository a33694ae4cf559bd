# Can the quarantine undo a repair run? Read-only. An automatic rollback restores a table from
# its backup (losing every write since) ONLY when this says no: the quarantine or runs table is
# missing, is not a jsonmend table, or the server refuses to read it. A stop file, a held lock, a
# retry limit, a throttle timeout or a lost connection make an undo wait, never impossible.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.repair.ledger import DEPLOY_IDS, REPAIR
from ansible.module_utils.jsonmend.repair.policy import WRITING_ACTIONS

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ansible.module_utils.jsonmend.repair.ledger import Ledger

# The server cannot read the table: it is gone, crashed, or its storage is damaged or missing.
UNREADABLE = (
    1030,  # got error N from the storage engine
    1146,  # table doesn't exist
    1194,  # table is marked as crashed
    1195,  # table is marked as crashed and last repair failed
    1812,  # tablespace is missing
    1932,  # table doesn't exist in engine
    1877,  # operation cannot be performed: the table is corrupted (MySQL: "is missing, discarded or corrupted")
)


def deploy_run(runs: Iterable[dict[str, Any]], deploy_id: str) -> dict[str, Any] | None:
    """The newest repair run the deploy `deploy_id` started or resumed, or None."""
    for run in runs:
        if run.get("kind") == REPAIR and (run.get("run_id") == deploy_id or deploy_id in (run.get(DEPLOY_IDS) or [])):
            return run
    return None


def probe(ledger: Ledger, run_id: str | None = None, deploy_id: str | None = None) -> dict[str, Any]:
    """{possible, reason, run_id, quarantined_rows, undone_rows, recorded_rows, ledger_readable}: whether an undo can bring the run back.

    `possible` is False only when the undo is impossible (the run's pre-images are gone or
    unreadable); the run is `run_id`, else the one `deploy_id` started or resumed, else the
    latest repair of the column. Errors that are not about the tables themselves (a lost
    connection) propagate: the caller cannot know, and must not restore.
    """
    out = dict(possible=False, reason=None, run_id=None, quarantined_rows=0, undone_rows=0, recorded_rows=0, ledger_readable=False)
    try:
        exists = ledger.exists()
    except JsonmendError as exc:
        return dict(out, reason="the ledger cannot be used: %s" % exc)
    except driver_error_types() as exc:
        if not _unreadable(exc):
            raise
        return dict(out, reason="the server cannot read the ledger: %s" % driver_message(exc))
    out["ledger_readable"] = True
    if not exists:
        return dict(out, reason="the quarantine table %s.%s does not exist" % (ledger.database, ledger.quarantine))
    try:
        if run_id:
            run = ledger.run(run_id)
        elif deploy_id:
            run = deploy_run(ledger.runs_list(), deploy_id)
        else:
            run = ledger.latest_repair()
        if run is None or run.get("kind") != REPAIR:
            wanted = run_id or ("the repair run of deploy %s" % deploy_id if deploy_id else "a repair run")
            return dict(out, reason="%s is not recorded in %s.%s" % (wanted, ledger.database, ledger.runs))
        total, undone, _low, _high = ledger.quarantined_rows(run["run_id"])
    except driver_error_types() as exc:
        if not _unreadable(exc):
            raise
        return dict(out, run_id=run_id, reason="the server cannot read the quarantine: %s" % driver_message(exc))
    recorded = sum(int(((run.get("counts") or {}).get("actions") or {}).get(a, 0)) for a in WRITING_ACTIONS)
    out.update(run_id=run["run_id"], quarantined_rows=total, undone_rows=undone, recorded_rows=recorded)
    if total < recorded:
        # Rows were deleted from the quarantine: those repairs cannot be undone.
        return dict(out, reason="the quarantine holds %d pre-images of run %s, which changed %d rows" % (total, run["run_id"], recorded))
    return dict(out, possible=True, reason="the quarantine holds the run's %d pre-images" % total)


def _unreadable(exc):
    return (exc.args[0] if exc.args else None) in UNREADABLE
