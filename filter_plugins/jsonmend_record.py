# The run record (the runbook's Phase 5 "deployment notes") and the weekly metric, as pure
# functions over the facts roles publish.
from __future__ import annotations

import datetime
import shlex

from ansible.errors import AnsibleFilterError

STAMP = "%Y-%m-%dT%H:%M:%SZ"

# (phase, fact) in runbook order; a phase is in the record when its role published its fact.
PHASE_FACTS = (
    ("preflight", "preflight_run"),
    ("backup", "backup_manifest"),
    ("diagnose", "diagnose_scan"),
    ("strategy", "strategy_decision"),
    ("checklist", "checklist_result"),
    ("investigate", "investigate_summary"),
    ("maintenance", "maintenance_state"),
    ("deploy", "deploy_release"),
    ("cleanup", "cleanup_repair"),
    ("verify", "verify_result"),
    ("guard", "guard_state"),
    ("emergency", "emergency_result"),
    ("rollback", "rollback_result"),
    ("notify", "notify_result"),
)


def _plus(stamp, seconds):
    """An ISO UTC stamp plus seconds (None when either is missing or unreadable)."""
    try:
        start = datetime.datetime.strptime(str(stamp), STAMP).replace(tzinfo=datetime.UTC)
        return (start + datetime.timedelta(seconds=float(seconds))).strftime(STAMP)
    except (TypeError, ValueError):
        return None


def _phase(name, fact):
    fact = fact if isinstance(fact, dict) else {}
    scan = fact.get("scan") if isinstance(fact.get("scan"), dict) else {}
    started = fact.get("started_at") or fact.get("scanned_at") or scan.get("scanned_at") or fact.get("created_at")
    if name == "maintenance":
        started = (fact.get("window") or {}).get("started_at") or started
    finished = fact.get("finished_at") or (fact.get("window") or {}).get("ended_at") if name == "maintenance" else fact.get("finished_at")
    if not finished and started and (scan.get("duration_s") is not None or fact.get("duration_s") is not None):
        finished = _plus(started, scan.get("duration_s", fact.get("duration_s")))
    return dict(
        phase=name,
        outcome=fact.get("outcome") or ("failed" if fact.get("failed") else "done"),
        started_at=started,
        finished_at=finished,
    )


def _close_phases(phases, finished_at):
    """A phase without its own end ended when the next one with a start began (the runbook is
    sequential); the last one when the run ended."""
    for i, phase in enumerate(phases):
        if phase["finished_at"] or not phase["started_at"]:
            continue
        later = [p["started_at"] for p in phases[i + 1 :] if p["started_at"] and p["started_at"] >= phase["started_at"]]
        phase["finished_at"] = later[0] if later else finished_at
    return phases


def _verify_scan(verify):
    """The re-scan inside verify_result (its checks hold it; older records had it at the top)."""
    scan = verify.get("scan") or (verify.get("checks") or {}).get("scan")
    return scan if isinstance(scan, dict) else None


def jsonmend_run_record(facts, outcome="success", failure=None, scan_before=None, context=None):
    """Build the run record from a dict of published facts (missing ones are simply absent).

    `context` (optional): change_ticket, environment, inventory (the inventory directory's name),
    finished_at (UTC), the run's own facts the record cannot read from a role.
    """
    context = context if isinstance(context, dict) else {}
    if not isinstance(facts, dict) or not isinstance(facts.get("preflight_run"), dict):
        raise AnsibleFilterError("jsonmend_run_record needs a dict of facts with preflight_run")
    run = facts["preflight_run"]
    present = dict((k, v) for k, v in facts.items() if isinstance(v, dict) and v)
    scan = present.get("diagnose_scan", {})
    decision = present.get("strategy_decision", {})
    repair = present.get("cleanup_repair", {})
    verify = present.get("verify_result", {})
    rollback = present.get("rollback_result", {})
    backup = present.get("backup_manifest", {})
    deploy = present.get("deploy_release", {})
    guard = present.get("guard_state", {})

    def counts(s):
        if not s:
            return None
        return dict((k, s.get(k)) for k in ("total_rows", "corrupted_rows", "sql_null_rows", "double_encoded_rows", "invalid_rows") if k in s)

    maintenance = present.get("maintenance_state", {})
    window = maintenance.get("window") or {}
    record = dict(
        run_id=run.get("id"),
        playbook=run.get("playbook"),
        change_ticket=context.get("change_ticket") or None,
        environment=context.get("environment") or None,
        inventory=context.get("inventory") or None,
        started_at=run.get("started_at"),
        finished_at=context.get("finished_at") or None,
        operator=run.get("operator"),
        awx_job_id=run.get("awx_job_id"),
        check_mode=run.get("check_mode"),
        target=run.get("target"),
        outcome=outcome,
        failure=failure or None,
        strategy=decision.get("strategy"),
        phases=_close_phases([_phase(name, present[fact]) for name, fact in PHASE_FACTS if fact in present], context.get("finished_at")),
        maintenance_window=dict(started_at=window.get("started_at"), ended_at=window.get("ended_at")) if window.get("started_at") else None,
        scan_before=counts(scan_before) or counts(scan),
        scan_after=counts(_verify_scan(verify)),
        backup_id=backup.get("id"),
        backup_verified=backup.get("verified"),
        repair_run_id=repair.get("run_id"),
        repair_counts=repair.get("counts"),
        rows_changed=repair.get("rows_changed"),
        deploy=dict((k, deploy.get(k)) for k in ("previous", "new", "ref") if k in deploy) or None,
        verification=verify or None,
        rollback=rollback or None,
        guard=_guard(guard),
        notifications=_notifications(context.get("notifications")),
    )
    if context.get("fleet_target"):
        # One database target of a fleet (an inventory host of jsonmend_targets): its commands name it with --limit.
        record["fleet_target"] = context["fleet_target"]
    record["undo_command"] = undo_command(record)
    record["next_command"] = next_command(record)
    return record


def _notifications(rows):
    """Each delivery of the run's messages: message, recipient, channel, time and result."""
    keys = ("message", "contact", "name", "channel", "to", "sent_at", "result")
    rows = [dict((k, r.get(k)) for k in keys) for r in rows or [] if isinstance(r, dict)]
    return rows or None


def _guard(state):
    """The guard's change in the record: from which mode to which, and what it ran (None when no guard ran)."""
    if not state.get("mode"):
        return None
    keys = ("mode", "installed_before", "installed", "changed", "check_mode", "statements", "corrupt_rows", "events")
    return dict((k, state[k]) for k in keys if k in state)


def _command(record, playbook, *words):
    inventory = record.get("inventory")
    args = ["./jsonmend", playbook] + (["-i", "inventories/%s" % inventory] if inventory and inventory != "local" else []) + list(words)
    return " ".join(shlex.quote(w) for w in args)


def _ran(record):
    return not record.get("check_mode") and record.get("outcome") in ("success", "rolled_back")


def undo_command(record):
    """The command that puts back what this run changed ('' when it changed nothing to put back)."""
    playbook, outcome = record.get("playbook"), record.get("outcome")
    if record.get("check_mode"):
        return ""
    if playbook == "deploy.yml" and outcome == "success" and (record.get("deploy") or record.get("repair_run_id")):
        return _command(record, "rollback")
    if playbook == "fleet_cleanup.yml" and outcome == "success" and record.get("repair_run_id") and record.get("rows_changed") and record.get("fleet_target"):
        return _command(record, "fleet_undo", "--limit", record["fleet_target"], "-e", "jsonmend_rollback_run_id=%s" % record["repair_run_id"])
    if playbook == "cleanup.yml" and record.get("repair_run_id") and record.get("rows_changed"):
        return _command(record, "rollback", "-e", "jsonmend_rollback_scope=data", "-e", "jsonmend_rollback_run_id=%s" % record["repair_run_id"])
    if playbook in ("rollback.yml", "emergency_rollback.yml") and outcome == "rolled_back":
        return _command(record, "deploy", "-e", "strategy=%s" % (record.get("strategy") or "auto"))
    guard = record.get("guard") or {}
    if playbook == "guard.yml" and outcome == "success" and guard.get("changed") and guard.get("installed_before") in ("off", "observe", "enforce"):
        return _command(record, "guard", "-e", "jsonmend_guard_mode=%s" % guard["installed_before"])
    return ""


def next_command(record):
    """What the operator runs next, from how this run ended."""
    playbook, outcome = record.get("playbook") or "", record.get("outcome")
    name = playbook[:-4] if playbook.endswith(".yml") else playbook
    strategy = record.get("strategy") or "auto"
    if outcome == "refused":
        # A refused dry run would be refused for real too: the fix comes first.
        return "fix what stopped the run (above), then %s again" % _command(record, name)
    if record.get("check_mode"):
        return "%s (the same, without --check)" % _command(record, name)
    if playbook == "phase2_diagnose.yml":
        if (record.get("scan_before") or {}).get("corrupted_rows") == 0:
            return "nothing to repair; %s schedules the weekly check" % _command(record, "weekly_check")
        ack = ["-e", "jsonmend_investigation_ack=yes"] if strategy in ("C", "D") else []
        return _command(record, "deploy", "-e", "strategy=%s" % strategy, *ack)
    if playbook == "deploy.yml":
        if outcome == "success":
            return "%s every 15 minutes for 24 hours; to undo: %s" % (_command(record, "monitor"), _command(record, "rollback"))
        if outcome == "rolled_back":
            return "read record.md, fix the release, then %s" % _command(record, "deploy", "-e", "strategy=%s" % strategy)
        return "%s (the rollback failed: restore the database and the code)" % _command(record, "emergency_rollback")
    if playbook in ("rollback.yml", "emergency_rollback.yml"):
        return _command(record, "diagnose") if _ran(record) else "fix what stopped the rollback, then %s again" % _command(record, name)
    if playbook == "weekly_check.yml":
        return "nothing until the next weekly check" if outcome == "success" else "%s, then the deploy it recommends" % _command(record, "diagnose")
    if playbook == "cleanup.yml" and outcome == "success":
        return _command(record, "diagnose")
    if playbook == "guard.yml" and outcome == "success" and (record.get("guard") or {}).get("installed") == "observe":
        return "the weekly checks; once they stay clean: %s" % _command(record, "guard", "-e", "jsonmend_guard_mode=enforce")
    if outcome == "success":
        return "nothing"
    return "fix what stopped the run (above), then %s again" % _command(record, name)


def jsonmend_record_markdown(record):
    """The record as deployment notes a team lead pastes into a change ticket."""
    if not isinstance(record, dict) or "run_id" not in record:
        raise AnsibleFilterError("jsonmend_record_markdown needs a record from jsonmend_run_record")
    target = record.get("target") or {}
    lines = [
        "# Deployment notes: run %s" % record["run_id"],
        "",
        "| | |",
        "| --- | --- |",
        "| Change ticket | %s |" % (record.get("change_ticket") or "none given (-e jsonmend_change_ticket=CHG-...)"),
        "| Environment | %s |" % (record.get("environment") or "?"),
        "| Playbook | %s |" % record.get("playbook"),
        "| Target | `%s.%s.%s` |" % (target.get("database"), target.get("table"), target.get("column")),
        "| Outcome | **%s**%s |" % (record.get("outcome"), " (check mode)" if record.get("check_mode") else ""),
        "| Strategy | %s |" % (record.get("strategy") or "n/a"),
        "| Started | %s |" % _utc(record.get("started_at")),
        "| Finished | %s |" % _utc(record.get("finished_at")),
        "| Run by | %s%s |" % (record.get("operator"), " (AWX job %s)" % record["awx_job_id"] if record.get("awx_job_id") else ""),
    ]
    if record.get("failure"):
        lines.append("| Failure | %s |" % str(record["failure"]).replace("|", "\\|").replace("\n", " "))
    before, after = record.get("scan_before"), record.get("scan_after")
    if before:
        lines.append("| Corrupted rows before | %s of %s |" % (before.get("corrupted_rows"), before.get("total_rows")))
    if after:
        lines.append("| Corrupted rows after | %s of %s |" % (after.get("corrupted_rows"), after.get("total_rows")))
    if record.get("backup_id"):
        lines.append("| Backup | %s%s |" % (record["backup_id"], " (verified)" if record.get("backup_verified") else " (NOT verified)"))
    if record.get("repair_run_id"):
        lines.append("| Repair run | %s: %s rows changed |" % (record["repair_run_id"], record.get("rows_changed")))
    window = record.get("maintenance_window") or {}
    if window.get("started_at"):
        ended = _utc(window.get("ended_at")) if window.get("ended_at") else "still on"
        lines.append("| Maintenance window | %s → %s |" % (_utc(window.get("started_at")), ended))
    guard = record.get("guard") or {}
    if guard:
        before, now = guard.get("installed_before"), guard.get("installed")
        ran = len(guard.get("statements") or [])
        done = ("%d DDL statement(s)%s" % (ran, " planned" if record.get("check_mode") else "")) if ran else "unchanged"
        lines.append("| Guard | %s (%s) |" % (before if before == now else "%s → %s" % (before, now), done))
    lines += _code_lines(record)
    for text in _rollback_lines(record.get("rollback")):
        lines.append("| Rollback | %s |" % _cell(text))
    if record.get("undo_command"):
        lines.append("| Undo | `%s` |" % record["undo_command"])
    if record.get("next_command"):
        lines.append("| Next | %s |" % _cell(record["next_command"]))
    if record.get("notifications"):
        lines += ["", "## Notifications", "", "| Message | Recipient | Channel | Sent (UTC) | Result |", "| --- | --- | --- | --- | --- |"]
        for n in record["notifications"]:
            lines.append("| %s | %s | %s | %s | %s |" % tuple(_cell(n.get(k) or "") for k in ("message", "name", "channel", "sent_at", "result")))
        for n in record["notifications"]:
            if n.get("result") not in ("ok", "skipped (check mode)"):
                lines.append("")
                lines.append(
                    "WARNING: %s was not delivered to %s by %s: %s" % (n.get("message"), n.get("name"), n.get("channel"), _cell(n.get("result") or ""))
                )
    lines += ["", "## Phases", "", "| Phase | Outcome | Started (UTC) | Finished (UTC) |", "| --- | --- | --- | --- |"]
    for phase in record.get("phases") or []:
        lines.append("| %s | %s | %s | %s |" % (phase["phase"], phase["outcome"], phase.get("started_at") or "", phase.get("finished_at") or ""))
    verification = record.get("verification") or {}
    if verification:
        lines += ["", "## Checks", ""]
        lines += ["- %s" % line for line in verification.get("lines") or []] or ["- (no check ran)"]
        if verification.get("failures"):
            lines.append("- FAILED: %s" % "; ".join(str(f) for f in verification["failures"]))
        lines.append("- verdict: %s" % ("passed" if verification.get("passed") else "FAILED"))
    lines += ["", "All times are UTC (ISO 8601, `Z`). The application's own logs (its error log) use the app servers' local time."]
    return "\n".join(lines) + "\n"


def _utc(stamp):
    return "%s (UTC)" % stamp if stamp else "-"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code_lines(record):
    """The code's direction: old → new for a deploy, new → old for a rollback."""
    deploy, rollback = record.get("deploy") or {}, record.get("rollback") or {}
    code = rollback.get("code") if isinstance(rollback.get("code"), dict) else None
    if record.get("playbook") in ("rollback.yml", "emergency_rollback.yml") and code:
        return ["| Code | %s → %s (rolled back%s) |" % (code.get("from") or "?", code.get("to") or "?", ", " + code["action"] if code.get("action") else "")]
    if deploy:
        line = "| Code | %s → %s (deployed) |" % (deploy.get("previous"), deploy.get("new"))
        if record.get("outcome") == "rolled_back":
            return [line, "| Code rollback | %s → %s (rolled back) |" % (deploy.get("new"), deploy.get("previous"))]
        return [line]
    return []


def _rollback_lines(rollback):
    """The rollback in words, not as a JSON dump."""
    if not isinstance(rollback, dict) or not rollback:
        return []
    out = []
    code = rollback.get("code")
    if isinstance(code, dict):
        out.append("code: %s%s" % (code.get("action") or "?", " - " + code["reason"] if code.get("reason") else ""))
    data = rollback.get("data")
    if isinstance(data, dict):
        how = " (%s)" % data["method"] if data.get("outcome") and data.get("method") else ""
        why = " - " + data["reason"] if data.get("reason") else ""
        out.append("data: %s%s%s" % (data.get("outcome") or data.get("method") or "?", how, why))
    if not out:
        out.append(", ".join("%s: %s" % (k, v) for k, v in sorted(rollback.items()) if not isinstance(v, (dict, list))))
    return out


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def jsonmend_prometheus(scan, environment=""):
    """Prometheus text exposition of a scan, for node_exporter's textfile collector."""
    if not isinstance(scan, dict) or "corrupted_rows" not in scan or "target" not in scan:
        raise AnsibleFilterError("jsonmend_prometheus needs the result of json_type_scan")
    t = scan["target"]
    labels = 'database="%s",table="%s",column="%s"' % (_label(t.get("database")), _label(t.get("table")), _label(t.get("column")))
    if environment:
        labels += ',environment="%s"' % _label(environment)
    info = scan.get("scan") or {}
    out = []

    def metric(name, help_text, values):
        out.append("# HELP %s %s" % (name, help_text))
        out.append("# TYPE %s gauge" % name)
        for extra, value in values:
            out.append("%s{%s%s} %s" % (name, labels, extra, value))

    metric("jsonmend_corrupted_rows", "Rows whose JSON column is neither SQL NULL nor an object.", [("", int(scan["corrupted_rows"]))])
    metric("jsonmend_total_rows", "Rows in the table at the last scan.", [("", int(scan.get("total_rows", 0)))])
    metric(
        "jsonmend_rows_by_type",
        "Rows per JSON type at the last scan.",
        [(',type="%s"' % _label(k), int(v)) for k, v in sorted((scan.get("by_type") or {}).items())],
    )
    metric("jsonmend_scan_duration_seconds", "Wall time of the last scan.", [("", float(info.get("duration_s", 0)))])
    if info.get("scanned_at"):
        import datetime

        stamp = datetime.datetime.strptime(info["scanned_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
        metric("jsonmend_scan_timestamp_seconds", "Unix time of the last scan.", [("", int(stamp.timestamp()))])
    return "\n".join(out) + "\n"


class FilterModule:
    """jsonmend run record and metric filters."""

    def filters(self):
        return {
            "jsonmend_run_record": jsonmend_run_record,
            "jsonmend_record_markdown": jsonmend_record_markdown,
            "jsonmend_prometheus": jsonmend_prometheus,
            "jsonmend_record_undo_command": undo_command,
            "jsonmend_record_next_command": next_command,
        }
