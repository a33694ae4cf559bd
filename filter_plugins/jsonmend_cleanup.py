# The cleanup's verdict as a pure function: after the repair, is the column clean? Rows the
# policy skips are expected to remain; every other corrupt row is reported, never hidden.
from __future__ import annotations

import datetime
import re

from ansible.errors import AnsibleFilterError

# The backup role's contract (fact backup_manifest, or a manifest JSON file holding the same dict).
MANIFEST_KEYS = ("verified", "id", "path", "manifest_path", "created_at", "database", "tables")

HEALTHY = ("OBJECT", "SQL NULL")
DOUBLE_ENCODED = "STRING+OBJECT"
# Text the server rejects that the application reads: not counted as corrupted by the scan.
READABLE = "READABLE OBJECT"


def _action(policy, kind):
    actions = (policy or {}).get("actions") or {}
    return actions.get(kind, (policy or {}).get("default_action", "null"))


def _remaining_by_kind(scan):
    """Corrupt rows per kind as the policy names them (double-encoded strings apart)."""
    by_type = dict(scan.get("by_type") or {})
    double = int(scan.get("double_encoded_rows") or 0)
    out = {}
    for kind, count in by_type.items():
        if kind in HEALTHY or kind == READABLE or not count:
            continue
        if kind == "STRING":
            count -= double
        if count:
            out[kind] = int(count)
    if double:
        out[DOUBLE_ENCODED] = double
    return out


def cleanup_verdict(scan, repair=None, policy=None):
    """Compare the re-scan with the policy and the repair: {ok, unexpected_rows, unwritable_rows, message, ...}.

    Rows the repair recorded as unwritable are still corrupt and are named as such, never taken
    for rows written corrupt while it ran; READABLE OBJECT rows are not corrupt (the application
    reads them) and only count when the policy acts on them.
    """
    if not isinstance(scan, dict) or "corrupted_rows" not in scan or "by_type" not in scan:
        raise AnsibleFilterError("jsonmend_cleanup_verdict needs the json_type_scan result (corrupted_rows, by_type), got %r" % (scan,))
    repair = repair or {}
    remaining = _remaining_by_kind(scan)
    skipped = dict((k, n) for k, n in remaining.items() if _action(policy, k) == "skip")
    unexpected = dict((k, n) for k, n in remaining.items() if k not in skipped)
    unwritable = repair.get("unwritable") or {}
    unwritable_rows = int(unwritable.get("rows") or 0)
    readable = int((scan.get("by_type") or {}).get(READABLE) or scan.get("readable_object_rows") or 0)
    readable_acted = readable if _action(policy, READABLE) != "skip" else 0
    if readable_acted:
        unexpected[READABLE] = readable_acted
    corrupt_left = int(scan["corrupted_rows"]) - sum(skipped.values())
    unexpected_rows = max(0, corrupt_left - unwritable_rows) + readable_acted
    walked_to = (repair.get("key_range") or {}).get("end")
    last_id = (scan.get("last_corrupt") or {}).get("id")
    after_walk = walked_to is not None and last_id is not None and last_id > walked_to
    if unexpected_rows <= 0 and not unwritable_rows:
        message = "the column is clean: 0 corrupted rows remain"
        if skipped:
            message += " besides %d rows the policy skips (%s)" % (sum(skipped.values()), ", ".join("%s %d" % kv for kv in sorted(skipped.items())))
        if readable:
            message += "; %d rows are READABLE OBJECT (the server's JSON_VALID rejects them, the application reads them): not counted" % readable
    elif unexpected_rows <= 0:
        reasons = "; ".join("%s: %d" % kv for kv in sorted((unwritable.get("by_reason") or {}).items()))
        message = (
            "%d rows could not be written and were left exactly as they were (%s); their key, original and reason are in the"
            " quarantine. Repair them with another policy (e.g. cleanup_policy={KIND: skip} or empty), or fix what refused them."
            % (unwritable_rows, reasons or "reasons in the repair result")
        )
    else:
        ids = [s.get("id") for s in scan.get("samples") or [] if _action(policy, s.get("type")) != "skip"][:10]
        message = "%d rows are still corrupt after the repair (%s); first ids %s." % (
            unexpected_rows,
            ", ".join("%s %d" % kv for kv in sorted(unexpected.items())) or "by type unknown",
            ids,
        )
        if after_walk:
            message += " Some lie beyond key %s, where the repair's walk ended: they were written while it ran." % walked_to
        message += " They were written corrupt while or after the repair ran: deploy the code fix, then run the cleanup again."
    if unexpected_rows > 0 and unwritable_rows:
        message += " Besides, %d rows could not be written and were left as they were (see unwritable)." % unwritable_rows
    return dict(
        ok=unexpected_rows <= 0 and not unwritable_rows,
        unexpected_rows=max(0, unexpected_rows),
        unwritable_rows=unwritable_rows,
        readable_rows=readable,
        skipped_rows=sum(skipped.values()),
        by_kind=unexpected,
        skipped_by_kind=skipped,
        written_after_walk=after_walk,
        message=message,
    )


# How a plan names each action, for "would repair 20 rows: unwrap 4, set {} 16".
ACTION_WORDS = {"unwrap": "unwrap", "wrap": "wrap", "null": "set NULL", "empty": "set {}", "skip": "skip"}


def repair_plan(scan, policy=None):
    """What the repair would do, from the live scan and the preflight's policy (cleanup_preflight.policy):
    {rows, actions: {action: rows}, by_kind: {kind: {action, rows}}, line: 'would repair N rows: unwrap a, set {} b, skip c'}.
    """
    if not isinstance(scan, dict):
        raise AnsibleFilterError("jsonmend_repair_plan needs the scan result (diagnose_scan)")
    by_kind, actions = {}, {}
    for kind, rows in sorted(_remaining_by_kind(scan).items()):
        action = _action(policy, kind) if kind != DOUBLE_ENCODED or "actions" in (policy or {}) else "unwrap"
        by_kind[kind] = dict(action=action, rows=rows)
        actions[action] = actions.get(action, 0) + rows
    changed = sum(n for a, n in actions.items() if a != "skip")
    parts = ["%s %d" % (ACTION_WORDS.get(a, a), n) for a, n in sorted(actions.items(), key=lambda item: (item[0] == "skip", -item[1]))]
    line = "would repair %d row%s" % (changed, "" if changed == 1 else "s") + (": " + ", ".join(parts) if parts else "")
    return dict(rows=changed, actions=actions, by_kind=by_kind, line=line)


def _parse_time(value):
    text = str(value).strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def backup_problems(manifest, target, max_age_hours=0, now=None, server=None):
    """Why a backup manifest does not cover a repair of target (database, table) on `server`; [] when it does.

    `server` is the live server's identity (json_type_scan's server.identity); a manifest that
    records another one is refused. A manifest without identity (written by an older version)
    is not refused here: the caller warns that nothing proves which server it came from.
    """
    if not isinstance(manifest, dict) or not manifest:
        return ["no backup manifest: run the backup role first (fact backup_manifest) or give cleanup_backup_manifest_file"]
    problems = []
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        problems.append("the manifest lacks %s" % ", ".join(missing))
    if manifest.get("verified") is not True:
        problems.append("backup %s is not verified (verified=%r)" % (manifest.get("id"), manifest.get("verified")))
    if manifest.get("database") != target.get("database"):
        problems.append("backup %s is of database %r, not %r" % (manifest.get("id"), manifest.get("database"), target.get("database")))
    recorded = (manifest.get("server") or {}).get("identity") if isinstance(manifest.get("server"), dict) else None
    if server and recorded and recorded != server:
        problems.append(
            "backup %s was taken on server %s, but the repair runs on server %s: a backup of another server cannot bring this table back"
            % (manifest.get("id"), recorded, server)
        )
    tables = manifest.get("tables") or []
    if tables and target.get("table") not in tables:
        problems.append("backup %s holds tables %s, not %s" % (manifest.get("id"), ", ".join(map(str, tables)), target.get("table")))
    if max_age_hours and manifest.get("created_at"):
        try:
            created = _parse_time(manifest["created_at"])
        except (TypeError, ValueError):
            problems.append("created_at %r is not an ISO 8601 time" % (manifest["created_at"],))
        else:
            age = ((now or datetime.datetime.now(datetime.UTC)) - created).total_seconds() / 3600.0
            if age > float(max_age_hours):
                problems.append("backup %s is %.1f hours old (limit %s): take a fresh one" % (manifest.get("id"), age, max_age_hours))
    return problems


def _path_part(text):
    """A connection detail as one safe path component (no '/', never '.' or '..')."""
    part = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_")
    return part if part.strip(".") else "_" + part


def control_files(control_dir, target, endpoint=None):
    """The operator's control files of one target, repair and undo apart.

    {dir, repair: {pause, stop, progress}, undo: {pause, stop, progress}} under
    <control_dir>/<server>/<database>.<table>.<column>/, where <server> is the connection as the
    inventory gives it (host_port, socket_<path>, or default when an option file gives it): a stop
    file stops one job of one column of one table on one server, nothing else.
    """
    if not isinstance(control_dir, str) or not control_dir.startswith("/"):
        raise AnsibleFilterError("jsonmend_control_files needs an absolute control directory, got %r" % (control_dir,))
    if not isinstance(target, dict) or not all(target.get(k) for k in ("database", "table", "column")):
        raise AnsibleFilterError("jsonmend_control_files needs preflight_run.target (database, table, column), got %r" % (target,))
    endpoint = endpoint if isinstance(endpoint, dict) else {}
    if endpoint.get("socket"):
        server = "socket_" + _path_part(endpoint["socket"])
    elif endpoint.get("host"):
        server = "%s_%s" % (_path_part(endpoint["host"]), _path_part(endpoint.get("port") or 3306))
    else:
        server = "default"
    # Identifiers are plain (letters, digits, '_', '$'): the dots keep the three apart.
    name = "%s.%s.%s" % (target["database"], target["table"], target["column"])
    if target.get("dialect") == "sqlite":
        name = "%s.%s.%s" % (_path_part(target["database"]), target["table"], target["column"])
    directory = "%s/%s/%s" % (control_dir.rstrip("/") or "", server, name)
    files = dict((job, dict((kind, "%s/%s.%s" % (directory, job, kind)) for kind in ("pause", "stop", "progress"))) for job in ("repair", "undo"))
    return dict(files, dir=directory, parents=["%s/%s" % (control_dir.rstrip("/"), server)])


class FilterModule:
    """jsonmend cleanup filters."""

    def filters(self):
        return {
            "jsonmend_cleanup_verdict": cleanup_verdict,
            "jsonmend_repair_plan": repair_plan,
            "jsonmend_backup_problems": backup_problems,
            "jsonmend_control_files": control_files,
        }
