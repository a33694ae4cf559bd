# What a rollback after the fact must do, as pure functions: which recorded deploy to roll
# back, whether the checkout is where that deploy left it, and which migrations a rollback to
# an arbitrary ref has to unapply.
from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

SHA_RE = re.compile(r"[0-9a-f]{40}")
# A ref an operator may give: a sha, tag, branch, `origin/main~1`, `v1^{commit}`. No option
# (leading '-'), no whitespace, nothing a shell or git would read as something else.
REF_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/~^{}@-]{0,199}")
# `git ls-tree -r --name-only` lines of migration files: <...>/<app>/migrations/<name>.py
MIGRATION_FILE_RE = re.compile(r"(?:^|/)([A-Za-z_]\w*)/migrations/(\d{4}\w*)\.py$")
SHOWN_RE = re.compile(r"^ \[( |X|-)\] (\w+)")


def _record_time(record):
    run = record.get("run") or {}
    return (str(run.get("started_at") or ""), str(run.get("id") or ""))


def last_deploy(records, target=None):
    """The newest deploy record that changed something: outcome `deployed`, not check mode,
    and either a new commit (previous != new) or rows repaired; or a deploy still `in_progress`
    (killed after its plan: it may have changed anything up to its target). {} when there is none.

    `records` are parsed `reports/<run id>/deploy.json` files, in any order. With `target`
    (preflight_run.target), records of another database or table are ignored: a rollback must
    never undo a repair on a table it was not asked about.
    """
    if records is None:
        return {}
    if not isinstance(records, (list, tuple)):
        raise AnsibleFilterError("jsonmend_last_deploy needs a list of deploy records, got %s" % type(records).__name__)
    wanted = target if isinstance(target, dict) else {}
    candidates = []
    for record in records:
        if not isinstance(record, dict) or record.get("outcome") not in ("deployed", "in_progress"):
            continue
        run = record.get("run") or {}
        if run.get("check_mode"):
            continue
        recorded = run.get("target") or {}
        if any(wanted.get(k) and recorded.get(k) and wanted[k] != recorded[k] for k in ("database", "table")):
            continue
        release = record.get("release") or {}
        repair = record.get("repair") or {}
        changed_code = bool(release.get("new")) and release.get("new") != release.get("previous")
        if record["outcome"] == "in_progress" and release.get("previous"):
            candidates.append(record)
        elif changed_code or int(repair.get("rows_changed") or 0) > 0:
            candidates.append(record)
    return max(candidates, key=_record_time) if candidates else {}


def resumed_deploy(records, target=None, head=""):
    """The deploy a new run resumes: the newest record of the target when it is still `in_progress`
    (interrupted: Ctrl-C, a lost session, a cancelled job) and the checkout is where that deploy
    started or was going. Its `previous` is the commit before the whole attempt (an interrupted
    re-run recorded the first one's, so the chain keeps the first). {} when nothing is resumed.
    """
    last = last_deploy(records, target)
    if not last or last.get("outcome") != "in_progress":
        return {}
    release = last.get("release") or {}
    previous = release.get("previous") or ""
    if not SHA_RE.fullmatch(str(previous)):
        return {}
    commits = [c for c in (previous, release.get("target"), release.get("new")) if c]
    if head and head not in commits:
        return {}
    return dict(run_id=(last.get("run") or {}).get("id"), previous=previous, target=release.get("target"), commits=commits)


def rollback_actions(result, release=None, undo=None):
    """What a rollback DID, as short lines for jsonmend_actions: from rollback_result (deploy.yml's
    rescue or rollback.yml's publish), the deploy role's deploy_release after its rollback entry
    point, and the cleanup role's cleanup_undo. Nothing that was only planned.
    """
    result = result if isinstance(result, dict) else {}
    code = result.get("code") if isinstance(result.get("code"), dict) else {}
    release = release if isinstance(release, dict) else {}
    undo = undo if isinstance(undo, dict) else {}
    actions = []
    status = code.get("status") or release.get("status")
    moved_from = code.get("from") or release.get("new") or ""
    now = code.get("current") or release.get("current") or ""
    if status == "rolled_back" and now and moved_from and now != moved_from:
        actions.append("code back to %s (was %s)" % (now, moved_from[:12]))
    unapplied = code.get("migrations_unapplied") or (release.get("migrations_unapplied") if status == "rolled_back" else None) or []
    if unapplied:
        actions.append("migrations unapplied: %s" % ", ".join(str(m) for m in unapplied))
    if code.get("restarted"):
        actions.append("restarted the application")
    data = result.get("data") if isinstance(result.get("data"), dict) else {}
    if data.get("method") == "undo" and (undo.get("changed") or data.get("changed")):
        restored = undo.get("restored", data.get("restored"))
        run = undo.get("undo_of") or data.get("repair_run_id")
        actions.append("undid repair run %s (%s rows got their original value back)" % (run, "?" if restored is None else restored))
    elif data.get("method") == "restore" and (data.get("outcome") == "restored" or data.get("backup_id")) and data.get("changed", True):
        actions.append("restored from backup %s" % data.get("backup_id"))
    return actions


def valid_ref(ref):
    """True for a ref an operator may pass as jsonmend_rollback_ref."""
    return isinstance(ref, str) and bool(REF_RE.fullmatch(ref)) and ".." not in ref


def code_rollback(head, target, deployed="", head_tree="", target_tree="", explicit=False, refuse_unchanged=True):
    """What the code rollback does on one host: {action: none|rollback|refuse, reason}.

    `head` is the checkout's commit, `target` the commit to return to, `deployed` the commit the
    recorded deploy left (empty for an explicit ref). A record whose deployed commit is the one to
    return to (a re-run after an interruption recorded the new code as its start) is refused unless
    `refuse_unchanged` is false: going "back" would keep the new code. Content decides "done": a checkout whose
    tree equals the target's (the target itself, or a revert commit on top) needs nothing. A
    checkout on neither the target nor the deployed commit means the record is stale (someone
    deployed since, or the deploy was killed half way): refused, unless the ref was explicit.
    """
    for value, what in ((head, "head"), (target, "target")):
        if not isinstance(value, str) or not SHA_RE.fullmatch(value):
            raise AnsibleFilterError("%s must be a full commit sha, got %r" % (what, value))
    if head == target and not (deployed == target and not explicit and refuse_unchanged):
        return dict(action="none", reason="the checkout is at %s already" % target[:12])
    if head_tree and target_tree and head_tree == target_tree:
        return dict(action="none", reason="the checkout %s has the content of %s already (a revert commit)" % (head[:12], target[:12]))
    if not explicit and deployed and deployed == target and refuse_unchanged:
        return dict(
            action="refuse",
            reason=(
                "the recorded deploy started from %s, the release it deployed (an interrupted deploy re-run, or a re-run"
                " that changed no code): going back to it keeps the new code. Give the commit to return to with"
                " -e jsonmend_rollback_ref=<sha|tag>, or roll back only the data with -e jsonmend_rollback_scope=data" % target[:12]
            ),
        )
    if explicit or head == deployed:
        return dict(action="rollback", reason="the checkout is at %s; rolling back to %s" % (head[:12], target[:12]))
    return dict(
        action="refuse",
        reason=(
            "the checkout is at %s, which is neither the commit the last recorded deploy left (%s) nor the one before it (%s):"
            " the record is stale (a later deploy, a manual change, or a deploy stopped half way)."
            " Give the commit to return to with -e jsonmend_rollback_ref=<sha|tag>" % (head[:12], (deployed or "?")[:12], target[:12])
        ),
    )


def ref_migration_plan(showmigrations, target_files):
    """Migrations to unapply before the checkout moves to a ref that lacks them.

    `showmigrations` is `manage.py showmigrations --list` of the running code; `target_files` the
    `git ls-tree -r --name-only <ref>` lines. Returns {applied_beyond: ['app.name', ...],
    leaves: {app: last migration the ref has and the database applied, or 'zero'}}, the inputs of
    jsonmend_migration_rollback_targets. Apps are matched by the directory holding `migrations/`.
    """
    if not isinstance(showmigrations, str):
        raise AnsibleFilterError("showmigrations output must be text")
    lines = target_files.splitlines() if isinstance(target_files, str) else list(target_files or [])
    at_target = {}
    for line in lines:
        match = MIGRATION_FILE_RE.search(str(line).strip())
        if match:
            at_target.setdefault(match.group(1), set()).add(match.group(2))
    applied_beyond, leaves, app = [], {}, None
    for line in showmigrations.splitlines():
        if line and not line.startswith(" "):
            app = line.strip()
            continue
        match = SHOWN_RE.match(line)
        if not match or not app or match.group(1) != "X":
            continue
        name = match.group(2)
        if name in at_target.get(app, set()):
            leaves[app] = name
        else:
            applied_beyond.append("%s.%s" % (app, name))
    for item in applied_beyond:
        leaves.setdefault(item.split(".", 1)[0], "zero")
    return dict(applied_beyond=applied_beyond, leaves=leaves)


def check_outcomes(results, tail=600):
    """[{command, ok, rc, line, output}] from the registered results of a loop of manage.py checks."""
    if not isinstance(results, (list, tuple)):
        raise AnsibleFilterError("check results must be a list of registered loop results")
    outcomes = []
    for result in results:
        result = result if isinstance(result, dict) else {}
        item = result.get("item") or []
        command = "manage.py " + " ".join(str(a) for a in (item if isinstance(item, (list, tuple)) else [item]))
        rc = result.get("rc")
        rc = -1 if rc is None else int(rc)
        output = ((result.get("stdout") or "") + "\n" + (result.get("stderr") or "")).strip()
        if result.get("skipped"):
            ok, line = True, "%s: skipped" % command
        elif rc == 0:
            ok, line = True, "%s: ok" % command
        else:
            last = output.splitlines()[-1] if output else (result.get("msg") or "no output")
            ok, line = False, "%s: FAILED (exit %s): %s" % (command, rc, last[:200])
        outcomes.append(dict(command=command, ok=ok, rc=rc, line=line, output=output[-tail:]))
    return outcomes


class FilterModule:
    """jsonmend rollback filters."""

    def filters(self):
        return {
            "jsonmend_last_deploy": last_deploy,
            "jsonmend_resumed_deploy": resumed_deploy,
            "jsonmend_rollback_actions": rollback_actions,
            "jsonmend_valid_ref": valid_ref,
            "jsonmend_code_rollback": code_rollback,
            "jsonmend_ref_migration_plan": ref_migration_plan,
            "jsonmend_check_outcomes": check_outcomes,
        }
