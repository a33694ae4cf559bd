# The run record (the runbook's Phase 5 "deployment notes") and the weekly metric, as pure
# functions over the facts roles publish.
from __future__ import annotations

import json

from ansible.errors import AnsibleFilterError

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
    ("rollback", "rollback_result"),
    ("notify", "notify_result"),
)


def _phase(name, fact):
    fact = fact if isinstance(fact, dict) else {}
    started = fact.get("started_at") or fact.get("scanned_at") or (fact.get("scan") or {}).get("scanned_at") or fact.get("created_at")
    return dict(
        phase=name,
        outcome=fact.get("outcome") or ("failed" if fact.get("failed") else "done"),
        started_at=started,
        finished_at=fact.get("finished_at"),
    )


def _verify_scan(verify):
    """The re-scan inside verify_result (its checks hold it; older records had it at the top)."""
    scan = verify.get("scan") or (verify.get("checks") or {}).get("scan")
    return scan if isinstance(scan, dict) else None


def jsonmend_run_record(facts, outcome="success", failure=None, scan_before=None):
    """Build the run record from a dict of published facts (missing ones are simply absent)."""
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

    def counts(s):
        if not s:
            return None
        return dict((k, s.get(k)) for k in ("total_rows", "corrupted_rows", "sql_null_rows", "double_encoded_rows", "invalid_rows") if k in s)

    return dict(
        run_id=run.get("id"),
        playbook=run.get("playbook"),
        started_at=run.get("started_at"),
        operator=run.get("operator"),
        awx_job_id=run.get("awx_job_id"),
        check_mode=run.get("check_mode"),
        target=run.get("target"),
        outcome=outcome,
        failure=failure or None,
        strategy=decision.get("strategy"),
        phases=[_phase(name, present[fact]) for name, fact in PHASE_FACTS if fact in present],
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
    )


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
        "| Playbook | %s |" % record.get("playbook"),
        "| Target | `%s.%s.%s` |" % (target.get("database"), target.get("table"), target.get("column")),
        "| Outcome | **%s**%s |" % (record.get("outcome"), " (check mode)" if record.get("check_mode") else ""),
        "| Strategy | %s |" % (record.get("strategy") or "n/a"),
        "| Started | %s |" % record.get("started_at"),
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
    if record.get("deploy"):
        lines.append("| Code | %s → %s |" % (record["deploy"].get("previous"), record["deploy"].get("new")))
    if record.get("rollback"):
        lines.append("| Rollback | `%s` |" % json.dumps(record["rollback"], sort_keys=True))
    lines += ["", "## Phases", "", "| Phase | Outcome | Started | Finished |", "| --- | --- | --- | --- |"]
    for phase in record.get("phases") or []:
        lines.append("| %s | %s | %s | %s |" % (phase["phase"], phase["outcome"], phase.get("started_at") or "", phase.get("finished_at") or ""))
    if record.get("verification"):
        lines += ["", "## Verification", "", "```json", json.dumps(record["verification"], indent=2, sort_keys=True, default=str), "```"]
    return "\n".join(lines) + "\n"


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
        }
