# The data part of an automatic rollback (deploy.yml's rescue), as pure functions: which repair
# run this deploy made (a resumed run keeps every deploy id), and whether to undo it, restore the
# table from the backup, or stop. A restore loses every write since the backup, so it is chosen
# ONLY when the quarantine cannot undo the run (missing or unreadable); a stop file, a held lock,
# a retry limit, a throttle timeout or a lost connection stop the rollback instead, with the
# exact command that resumes the undo.
from __future__ import annotations

import shlex

from ansible.errors import AnsibleFilterError


def deploy_repair_run(runs, deploy_id):
    """The id of the newest repair run the deploy `deploy_id` started or resumed, or ''.

    `runs` is json_type_repair status's list (newest first): a run counts when its run id is the
    deploy's (a fresh run takes it) or its deploy_ids holds it (a run resumed by that deploy).
    """
    if not isinstance(runs, (list, tuple)):
        raise AnsibleFilterError("jsonmend_deploy_repair_run needs json_type_repair status's runs, got %r" % (runs,))
    for run in runs:
        if not isinstance(run, dict) or run.get("kind") != "repair":
            continue
        if run.get("run_id") == deploy_id or deploy_id in (run.get("deploy_ids") or []):
            return run["run_id"]
    return ""


def undo_command(target, run_id=""):
    """The exact command that resumes (or runs) the undo of `run_id` on `target` (preflight_run.target)."""
    if not isinstance(target, dict) or not target.get("database"):
        raise AnsibleFilterError("jsonmend_undo_command needs preflight_run.target, got %r" % (target,))
    words = ["ansible-playbook", "playbooks/rollback.yml", "-e", "jsonmend_rollback_scope=data"]
    if run_id:
        words += ["-e", "jsonmend_rollback_run_id=%s" % run_id]
    for var, key in (("jsonmend_db_name", "database"), ("jsonmend_table", "table"), ("jsonmend_column", "column"), ("jsonmend_primary_key", "primary_key")):
        if target.get(key):
            words += ["-e", "%s=%s" % (var, target[key])]
    return " ".join(shlex.quote(w) for w in words)


def rollback_data_plan(ledger, deploy_id, repair=None, fallback=True, backup=None, ledger_error=""):
    """What the automatic rollback does with the data: {method, reason, repair_run_id}.

    method: `undo` (the lossless path), `restore` (the table from `backup`, only when the
    quarantine cannot undo the run), `none` (no row was changed), or `stop` (nothing can be
    done safely now: the reason says why, nothing is restored).

    `ledger` is json_type_repair status's result for this deploy (runs, undo), or None when
    reading it failed (`ledger_error`): then nobody knows whether the quarantine is intact, and
    a restore is never chosen. `repair` is cleanup_repair when the cleanup published it.
    """
    repair = repair if isinstance(repair, dict) else {}
    # Unknown unless the cleanup said so: only the ledger may then tell "nothing changed".
    changed = int(repair["rows_changed"]) if repair.get("rows_changed") is not None else None
    if changed == 0:
        return dict(method="none", reason="the cleanup of run %s changed no row" % deploy_id, repair_run_id=repair.get("run_id") or "")
    if not isinstance(ledger, dict) or "undo" not in ledger:
        return dict(
            method="stop",
            reason="the ledger could not be read (%s): nobody can tell whether the quarantine can undo the repair, so nothing is"
            " restored from the backup" % (ledger_error or "no status"),
            repair_run_id=repair.get("run_id") or "",
        )
    undo = ledger["undo"] or {}
    run_id = repair.get("run_id") or deploy_repair_run(ledger.get("runs") or [], deploy_id)
    if not run_id and undo.get("ledger_readable"):
        # No repair of this deploy is recorded: the run's row is written with its first change.
        return dict(method="none", reason="the cleanup of run %s changed no row (none is recorded in the ledger)" % deploy_id, repair_run_id="")
    if undo.get("possible") and undo.get("run_id") == run_id:
        if not int(undo.get("quarantined_rows") or 0):
            return dict(method="none", reason="repair run %s changed no row" % run_id, repair_run_id=run_id)
        return dict(method="undo", reason="undo repair run %s from its quarantine (lossless)" % run_id, repair_run_id=run_id)
    if not run_id:
        # The ledger is unusable and the cleanup published nothing: whether this deploy changed a
        # row at all is unknown, and a restore could lose writes for nothing.
        return dict(
            method="stop",
            reason="the ledger cannot be used (%s) and the cleanup published no result: whether this deploy changed a row is"
            " unknown, so nothing is restored from the backup" % (undo.get("reason") or "unreadable"),
            repair_run_id="",
        )
    impossible = "the undo of repair run %s is impossible: %s" % (run_id, undo.get("reason") or "its quarantine cannot be read")
    if not fallback:
        return dict(method="stop", reason=impossible + ", and the backup fallback is off (rollback_restore_fallback=false)", repair_run_id=run_id)
    if not isinstance(backup, dict) or not backup.get("id"):
        return dict(method="stop", reason=impossible + ", and no backup_manifest is recorded to restore", repair_run_id=run_id)
    return dict(method="restore", reason=impossible + "; restoring the table from backup %s instead" % backup["id"], repair_run_id=run_id)


class FilterModule:
    """jsonmend rollback data filters."""

    def filters(self):
        return {
            "jsonmend_deploy_repair_run": deploy_repair_run,
            "jsonmend_undo_command": undo_command,
            "jsonmend_rollback_data_plan": rollback_data_plan,
        }
