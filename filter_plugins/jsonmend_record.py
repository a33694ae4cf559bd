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
    keys = ("mode", "installed_before", "installed", "changed", "check_mode", "statements", "corrupt_rows", "events", "weekly")
    return dict((k, state[k]) for k in keys if k in state)


def _command(record, playbook, *words):
    inventory = record.get("inventory")
    args = ["./jsonmend", playbook] + (["-i", "inventories/%s" % inventory] if inventory and inventory != "local" else []) + list(words)
    return " ".join(shlex.quote(w) for w in args)


def _guard_command(record, mode):
    """guard.yml in `mode`, or for a fleet's target fleet_guard.yml limited to it."""
    if record.get("fleet_target"):
        return _command(record, "fleet_guard", "--limit", record["fleet_target"], "-e", "jsonmend_guard_mode=%s" % mode)
    return _command(record, "guard", "-e", "jsonmend_guard_mode=%s" % mode)


def _ran(record):
    return not record.get("check_mode") and record.get("outcome") in ("success", "rolled_back")


def undo_command(record):
    """The command that puts back what this run changed ('' when it changed nothing to put back)."""
    playbook, outcome = record.get("playbook"), record.get("outcome")
    if record.get("check_mode"):
        return ""
    if playbook == "deploy.yml" and outcome == "success" and (record.get("deploy") or record.get("repair_run_id")):
        return _command(record, "rollback")
    fleet_repair = playbook in ("fleet_cleanup.yml", "fleet_deploy.yml") and record.get("fleet_target")
    if fleet_repair and outcome == "success" and record.get("repair_run_id") and record.get("rows_changed"):
        return _command(record, "fleet_undo", "--limit", record["fleet_target"], "-e", "jsonmend_rollback_run_id=%s" % record["repair_run_id"])
    if playbook == "cleanup.yml" and record.get("repair_run_id") and record.get("rows_changed"):
        return _command(record, "rollback", "-e", "jsonmend_rollback_scope=data", "-e", "jsonmend_rollback_run_id=%s" % record["repair_run_id"])
    if playbook in ("rollback.yml", "emergency_rollback.yml") and outcome == "rolled_back":
        return _command(record, "deploy", "-e", "strategy=%s" % (record.get("strategy") or "auto"))
    guard = record.get("guard") or {}
    guard_playbook = playbook in ("guard.yml", "fleet_guard.yml")
    if guard_playbook and outcome == "success" and guard.get("changed") and guard.get("installed_before") in ("off", "observe", "enforce"):
        return _guard_command(record, guard["installed_before"])
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
        weekly = (record.get("guard") or {}).get("weekly") or {}
        if outcome == "success" and weekly.get("command"):
            return "the guard observed nothing for %s weekly checks in a row: %s" % (weekly.get("clean_checks"), weekly["command"])
        return "nothing until the next weekly check" if outcome == "success" else "%s, then the deploy it recommends" % _command(record, "diagnose")
    if playbook == "cleanup.yml" and outcome == "success":
        return _command(record, "diagnose")
    if playbook in ("guard.yml", "fleet_guard.yml") and outcome == "success" and (record.get("guard") or {}).get("installed") == "observe":
        return "the weekly checks; once they stay clean: %s" % _guard_command(record, "enforce")
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


def jsonmend_prometheus(scan, environment="", guard=None):
    """Prometheus text exposition of a scan, for node_exporter's textfile collector; with `guard`
    (jsonmend_guard_weekly's result, when the guard could be read) the guard's mode and events too."""
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
    if isinstance(guard, dict) and guard.get("available"):
        metric(
            "jsonmend_guard_mode",
            "The database guard of the column installed now (1 for the mode it is in; mixed: an interrupted change;"
            " unknown: the user lacks the TRIGGER privilege that shows it).",
            [(',mode="%s"' % m, int(guard.get("mode") == m)) for m in ("off", "observe", "enforce", "mixed", "unknown")],
        )
        # Every row the guard's log holds: it only grows (a refused write is rolled back with its
        # statement, so the log holds what observe let through).
        out.append("# HELP jsonmend_guard_events_total Non-object writes the database guard logged, by the mode that logged them.")
        out.append("# TYPE jsonmend_guard_events_total counter")
        out.append('jsonmend_guard_events_total{%s,mode="observe"} %d' % (labels, int(guard.get("events_total") or 0)))
    return "\n".join(out) + "\n"


def jsonmend_guard_weekly(status, state, scan, target, checks_needed=4, inventory="", run_id="", fleet_target=""):
    """The guard in the weekly check, from json_guard's status result.

    `state`: the weekly state file ({"db.table.column": {checked_at, mode, clean_checks, ...}});
    `scan`: the check's scan. A check is clean when the guard is in observe, logged nothing since
    the last check and the scan found no corrupt row; after `checks_needed` clean checks in a row
    the result recommends enforce (`command`). Returns available, mode, events_since, events_total,
    since, clean_checks, checks_needed, recommend, command, line (one sentence) and state (the
    whole file to write back; a guard that could not be read keeps the last check's time, so the
    next one counts from there, and restarts the clean count). `fleet_target`: the inventory host of a
    fleet's target, whose command is fleet_guard.yml limited to it.
    """
    if not isinstance(target, dict) or not target.get("table"):
        raise AnsibleFilterError("jsonmend_guard_weekly needs the run's target (preflight_run.target)")
    try:
        needed = int(checks_needed)
    except (TypeError, ValueError):
        raise AnsibleFilterError("jsonmend_guard_weekly: checks_needed must be a whole number (got %r)" % (checks_needed,)) from None
    if needed < 1:
        raise AnsibleFilterError("jsonmend_guard_weekly: checks_needed must be 1 or more (got %d)" % needed)
    state = dict(state) if isinstance(state, dict) else {}
    key = "%s.%s.%s" % (target.get("database"), target.get("table"), target.get("column"))
    previous = state.get(key) if isinstance(state.get(key), dict) else {}
    status = status if isinstance(status, dict) else {}
    corrupted = int((scan or {}).get("corrupted_rows") or 0)
    since = previous.get("checked_at") or None
    if status.get("failed") or "installed" not in status:
        reason = " ".join(str(status.get("msg") or "json_guard returned no status").split())
        state[key] = dict(previous, clean_checks=0, run_id=run_id or None)
        return dict(
            available=False,
            mode="unknown",
            reason=reason,
            since=since,
            clean_checks=0,
            checks_needed=needed,
            recommend=False,
            command="",
            line="Guard: unknown (could not read it: %s)" % reason,
            state=state,
        )
    mode = status["installed"]
    events = status.get("events") or {}
    events_since, events_total = int(events.get("total") or 0), int(events.get("all_total", events.get("total")) or 0)
    clean = mode == "observe" and events_since == 0 and corrupted == 0
    # Consecutive: a check that was not clean, or found the guard in another mode, starts again.
    before = int(previous.get("clean_checks") or 0) if previous.get("mode") == "observe" else 0
    clean_checks = before + 1 if clean else 0
    recommend = mode == "observe" and clean_checks >= needed
    command = _guard_command(dict(inventory=inventory, fleet_target=fleet_target), "enforce") if recommend else ""
    window = "since the last weekly check (%s)" % since if since else "since the guard log began"
    classes = ", ".join("%s %s" % (n, c) for c, n in sorted((events.get("by_class") or {}).items()))
    line = "Guard: %s%s" % (mode, " (drifted: run ./jsonmend guard with its mode again)" if status.get("drifted") else "")
    if mode == "off":
        line += " (no database guard on the column)"
    elif mode == "mixed":
        line += " (an interrupted change: run ./jsonmend guard with the mode wanted again)"
    elif mode == "unknown":
        line += " (%s)" % " ".join(str(status.get("message") or "the guard's triggers are hidden from this user").split())
    if mode != "off" or events_total:
        line += "; %d non-object write(s) logged %s%s, %d in the log" % (events_since, window, " (%s)" % classes if classes else "", events_total)
    if mode == "observe":
        line += "; %d of %d clean weekly check(s) in a row" % (min(clean_checks, needed), needed)
        if recommend:
            line += "; recommended: enforce the guard: %s" % command
    state[key] = dict(
        checked_at=events.get("checked_at") or since,
        mode=mode,
        clean_checks=clean_checks,
        events_total=events_total,
        run_id=run_id or None,
    )
    return dict(
        available=True,
        mode=mode,
        drifted=bool(status.get("drifted")),
        events_since=events_since,
        events_total=events_total,
        by_class=events.get("by_class") or {},
        since=since,
        checked_at=events.get("checked_at"),
        clean_checks=clean_checks,
        checks_needed=needed,
        recommend=recommend,
        command=command,
        line=line,
        state=state,
    )


class FilterModule:
    """jsonmend run record and metric filters."""

    def filters(self):
        return {
            "jsonmend_run_record": jsonmend_run_record,
            "jsonmend_record_markdown": jsonmend_record_markdown,
            "jsonmend_prometheus": jsonmend_prometheus,
            "jsonmend_guard_weekly": jsonmend_guard_weekly,
            "jsonmend_record_undo_command": undo_command,
            "jsonmend_record_next_command": next_command,
        }
