# The fleet report: one row per database target, the fleet's totals, its Markdown and its Prometheus
# textfile, from what each target's play left in hostvars; and the fleet repair rollout's decisions
# (batches, what each target needs, whether a batch failed) and report (pure functions; unit tested).
from __future__ import annotations

import re
import shlex

from ansible.errors import AnsibleFilterError

# Kinds a scan counts that are not corruption (the scan's own rule: corrupted = total - NULL - these).
NOT_CORRUPT = ("OBJECT", "READABLE OBJECT")
STATUSES = ("clean", "corrupt", "failed")


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _get(mapping, key, default=None):
    try:
        return mapping[key] if key in mapping else default
    except Exception:  # noqa: BLE001  # a target's variable that cannot be templated is as good as absent here
        return default


def fleet_target_entry(host_vars, name):
    """What one target's play left for the fleet report, read on the controller from its hostvars (no
    task per target): the scan's counts (not its samples), the strategy, the run id, times, the error
    (fleet_target_error, set by the play's rescue) and, in the weekly check, its guard. {} when its
    play never started (unreachable, say)."""
    if host_vars is None or _get(host_vars, "fleet_target_started") is None:
        return {}
    preflight = _get(host_vars, "preflight_run") or {}
    scan = _get(host_vars, "diagnose_scan")
    error = _get(host_vars, "fleet_target_error")
    guard = _get(host_vars, "guard_weekly")
    server = _get(host_vars, "jsonmend_fleet_server", _get(host_vars, "jsonmend_db_host", _get(host_vars, "jsonmend_db_socket", "")))
    entry = {
        "target": name,
        "server": server or "",
        "database": _get(host_vars, "jsonmend_db_name", "") or "",
        "table": ((preflight.get("target") or {}).get("table") if isinstance(preflight, dict) else None) or _get(host_vars, "jsonmend_table", "") or "",
        "run_id": (preflight.get("id") if isinstance(preflight, dict) else "") or "",
        "started": _get(host_vars, "fleet_target_started"),
        "finished": _get(host_vars, "fleet_target_failed_at"),
        "error": error or "",
        "strategy": (_get(host_vars, "strategy_decision") or {}).get("strategy") or "",
        "scan": {},
        "guard": {},
    }
    if error is None and isinstance(scan, dict):
        entry["scan"] = {
            "total_rows": scan.get("total_rows", 0),
            "corrupted_rows": scan.get("corrupted_rows", 0),
            "by_type": scan.get("by_type") or {},
            "duration_s": (scan.get("scan") or {}).get("duration_s"),
        }
    if isinstance(guard, dict) and guard:
        entry["guard"] = {k: guard.get(k) for k in ("mode", "events_since", "events_total", "line")}
    return entry


def fleet_target_entries(hostvars, names):
    """fleet_target_entry for each name, in order (the hostvars of the whole inventory)."""
    return [fleet_target_entry(_get(hostvars, n), n) for n in names]


def fleet_row(entry):
    """One target's row: what its play published (scan, strategy, times, error) made flat."""
    if not isinstance(entry, dict) or not entry.get("target"):
        raise AnsibleFilterError("jsonmend_fleet_report: each entry needs a target name, got %r" % (entry,))
    scan = entry.get("scan") or {}
    error = entry.get("error") or ""
    if not error and not scan:
        # A target whose play stopped before its scan and left no message (unreachable, say).
        error = "no diagnosis: the target's play did not finish"
    failed = bool(error)
    by_type = {} if failed else {k: _int(v) for k, v in sorted((scan.get("by_type") or {}).items()) if k not in NOT_CORRUPT and _int(v) > 0}
    corrupted = None if failed else _int(scan.get("corrupted_rows"))
    # The scan's own time; a failed target's, the time its play took to fail (a linear play's
    # elapsed time would be the same for every target).
    started, finished = entry.get("started"), entry.get("finished")
    try:
        duration = round(float(scan["duration_s"]), 2) if scan.get("duration_s") is not None else round(max(float(finished) - float(started), 0.0), 2)
    except (TypeError, ValueError):
        duration = None
    row = {
        "target": str(entry["target"]),
        "server": str(entry.get("server") or ""),
        "database": str(entry.get("database") or ""),
        "table": str(entry.get("table") or ""),
        "run_id": str(entry.get("run_id") or ""),
        "rows": None if failed else _int(scan.get("total_rows")),
        "corrupted": corrupted,
        "by_type": by_type,
        "strategy": None if failed else (entry.get("strategy") or None),
        "status": "failed" if failed else ("corrupt" if corrupted else "clean"),
        "duration_s": duration,
        "error": error,
    }
    # The fleet weekly check reads each target's guard: its mode, the writes it logged, its one line.
    if entry.get("guard"):
        guard = entry["guard"] if isinstance(entry["guard"], dict) else {}
        row["guard"] = {
            "mode": str(guard.get("mode") or "unknown"),
            "events_since": None if guard.get("events_since") in (None, "") else _int(guard.get("events_since")),
            "events_total": None if guard.get("events_total") in (None, "") else _int(guard.get("events_total")),
            "line": str(guard.get("line") or ""),
        }
    return row


def fleet_report(entries, names, context=None):
    """The fleet report: rows sorted by target, and totals over the targets that answered.

    `entries[i]` is what target `names[i]` published (fleet_target); {} when its play never got there."""
    if not isinstance(entries, list) or not isinstance(names, list) or len(entries) != len(names):
        raise AnsibleFilterError("jsonmend_fleet_report expects one entry per target name")
    rows = sorted((fleet_row(dict(e or {}, target=n)) for e, n in zip(entries, names, strict=True)), key=lambda r: r["target"])
    names = [r["target"] for r in rows]
    if len(set(names)) != len(names):
        raise AnsibleFilterError("jsonmend_fleet_report: a target is listed twice")
    by_type = {}
    for row in rows:
        for kind, count in row["by_type"].items():
            by_type[kind] = by_type.get(kind, 0) + count
    answered = [r for r in rows if r["status"] != "failed"]
    totals = {
        "targets": len(rows),
        "servers": len({r["server"] for r in rows if r["server"]}),
        "scanned": len(answered),
        "clean": sum(1 for r in rows if r["status"] == "clean"),
        "corrupt": sum(1 for r in rows if r["status"] == "corrupt"),
        "failed": sum(1 for r in rows if r["status"] == "failed"),
        "rows": sum(r["rows"] for r in answered),
        "corrupted": sum(r["corrupted"] for r in answered),
        "by_type": dict(sorted(by_type.items())),
    }
    report = dict(context or {})
    report.update(targets=rows, totals=totals)
    return report


def _cell(value):
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _extra_cell(key, value):
    if not isinstance(value, dict):
        return ""
    if key == "guard":
        return value.get("line") or value.get("mode")
    return value.get("note")


def fleet_markdown(report):
    """fleet.md: the table an operator reads, one row per target, then the totals."""
    totals = report["totals"]
    lines = [
        "# %s %s" % ("Fleet monitor" if report.get("playbook") == "fleet_monitor.yml" else "Fleet diagnosis", report.get("fleet_run_id", "")),
        "",
        "%d targets on %d servers: %d clean, %d corrupt, %d failed. %s rows scanned, %s corrupted."
        % (
            totals["targets"],
            totals["servers"],
            totals["clean"],
            totals["corrupt"],
            totals["failed"],
            "{:,}".format(totals["rows"]),
            "{:,}".format(totals["corrupted"]),
        ),
        "",
    ]
    # Columns only some fleet playbooks fill: the weekly check's guard, the monitor's judgement.
    extra = [(key, title) for key, title in (("guard", "guard"), ("monitor", "monitor")) if any(key in r for r in report["targets"])]
    lines += [
        "| target | server | rows | corrupted | by type | strategy | status | duration (s) | %serror |" % "".join("%s | " % t for _k, t in extra),
        "|---|---|---:|---:|---|---|---|---:|%s---|" % ("---|" * len(extra)),
    ]
    for r in report["targets"]:
        kinds = ", ".join("%s %d" % (k, v) for k, v in r["by_type"].items())
        cells = [r["target"], r["server"], r["rows"], r["corrupted"], kinds, r["strategy"], r["status"], r["duration_s"]]
        cells += [_extra_cell(key, r.get(key)) for key, _t in extra]
        lines.append("| %s |" % " | ".join(_cell(v) for v in [*cells, r["error"]]))
    kinds = ", ".join("%s %d" % (k, v) for k, v in totals["by_type"].items())
    lines += [
        "| **total** | %d servers | %d | %d | %s | | %d failed | | %s|"
        % (totals["servers"], totals["rows"], totals["corrupted"], _cell(kinds), totals["failed"], "| " * len(extra)),
        "",
        "Each target's own diagnosis and record: reports/<run id>/ (the run id column of fleet-latest.json).",
        "",
    ]
    return "\n".join(lines)


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def fleet_prometheus(report, environment=""):
    """node_exporter textfile: one series per target (corrupted rows, rows, up), no timestamps."""
    env = _label(environment or report.get("environment") or "")
    out = []
    metrics = (
        ("jsonmend_fleet_target_corrupted_rows", "Corrupted rows the last fleet diagnosis found per target (absent: the target failed).", "corrupted"),
        ("jsonmend_fleet_target_rows", "Rows the last fleet diagnosis scanned per target.", "rows"),
    )
    for name, text, key in metrics:
        out += ["# HELP %s %s" % (name, text), "# TYPE %s gauge" % name]
        for r in report["targets"]:
            if r[key] is not None:
                out.append('%s{environment="%s",target="%s",server="%s"} %d' % (name, env, _label(r["target"]), _label(r["server"]), r[key]))
    out += ["# HELP jsonmend_fleet_target_up 1 if the target's diagnosis finished, 0 if it failed.", "# TYPE jsonmend_fleet_target_up gauge"]
    for r in report["targets"]:
        out.append(
            'jsonmend_fleet_target_up{environment="%s",target="%s",server="%s"} %d' % (env, _label(r["target"]), _label(r["server"]), r["status"] != "failed")
        )
    return "\n".join(out) + "\n"


# -- the fleet monitor (playbooks/fleet_monitor.yml) -------------------------------------------------
MONITOR_STATE_VERSION = 1


def fleet_monitor_judge(report, state=None, now=""):
    """What the fleet monitor's re-scan found that is new, per target, as monitor.yml judges one target.

    A target alerts when its corrupted count rises above the count last alerted for it (a count that
    falls is remembered, so a new rise alerts again); a re-scan that fails alerts once until it works.
    Returns alert, summary, message (the alert's lines), new (targets with new corruption), new_failed
    (targets whose re-scan newly failed), report (the fleet report, each row with its `monitor`
    judgement: alerted_before, new, note) and state (to save: per target corrupted_rows,
    alerted_corrupted_rows, error, scanned_at).
    """
    if not isinstance(report, dict) or not isinstance(report.get("targets"), list):
        raise AnsibleFilterError("jsonmend_fleet_monitor_judge needs the fleet report")
    state = state if isinstance(state, dict) else {}
    known = state.get("targets") if isinstance(state.get("targets"), dict) else {}
    rows, targets_state, new, new_failed, lines = [], {}, [], [], []
    for row in report["targets"]:
        previous = known.get(row["target"]) if isinstance(known.get(row["target"]), dict) else {}
        before = _int(previous.get("alerted_corrupted_rows"))
        if row["status"] == "failed":
            is_new = not previous.get("error")
            entry = dict(previous, error=str(row["error"])[:500])
            note = "re-scan failed%s" % (" (new)" if is_new else " (already reported)")
            if is_new:
                new_failed.append(row["target"])
                lines.append("- %s (server %s): the re-scan FAILED: %s" % (row["target"], row["server"], str(row["error"])[:300]))
        else:
            corrupted = row["corrupted"]
            is_new = corrupted > before
            entry = dict(
                corrupted_rows=corrupted,
                total_rows=row["rows"],
                alerted_corrupted_rows=corrupted if is_new else min(before, corrupted),
                scanned_at=now,
                error=None,
            )
            if is_new:
                new.append(row["target"])
                kinds = ", ".join("%s %d" % kv for kv in row["by_type"].items())
                lines.append(
                    "- %s (server %s, %s.%s): %d corrupted of %d rows%s%s"
                    % (
                        row["target"],
                        row["server"],
                        row["database"],
                        row["table"],
                        corrupted,
                        row["rows"],
                        " (%d when last reported)" % before if before else "",
                        " - " + kinds if kinds else "",
                    )
                )
                note = "new: %d corrupted (%d before)" % (corrupted, before)
            elif corrupted:
                note = "%d corrupted, already reported" % corrupted
            else:
                note = "clean"
        targets_state[row["target"]] = entry
        rows.append(dict(row, monitor=dict(alerted_before=before, new=is_new, note=note)))
    parts = []
    if new:
        parts.append("new corruption in %d of %d targets (%s)" % (len(new), len(rows), ", ".join(new)))
    if new_failed:
        parts.append("the re-scan failed on %d (%s)" % (len(new_failed), ", ".join(new_failed)))
    alert = bool(parts)
    summary = "; ".join(parts) if alert else "nothing new in %d targets" % len(rows)
    # Targets no longer in the inventory keep their entry: one that comes back is judged as before.
    kept = dict(known)
    kept.update(targets_state)
    return dict(
        alert=alert,
        summary=summary,
        message="\n".join(lines),
        new=new,
        new_failed=new_failed,
        report=dict(report, targets=rows),
        state=dict(version=MONITOR_STATE_VERSION, updated_at=now, targets=kept, last_alert=dict(at=now, summary=summary) if alert else state.get("last_alert")),
    )


# -- the fleet repair rollout (playbooks/fleet_cleanup.yml) ------------------------------------------
DEFAULT_BATCHES = [1, "10%", "25%", "100%"]
PERCENT_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*\Z")
ROLLOUT_STATUSES = ("done", "rolled back", "failed", "untouched", "skipped")


def fleet_serial(value=None):
    """jsonmend_fleet_batches as Ansible's `serial` list: whole numbers (targets) and percentages.

    Accepts a list or a comma-separated text (AWX surveys, -e key=value); raises naming the variable."""
    if value is None or value == "" or value == []:
        return list(DEFAULT_BATCHES)
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        items = [items]
    out = []
    for item in items:
        text = str(item).strip()
        match = PERCENT_RE.match(text)
        if match and 0 < float(match.group(1)) <= 100:
            out.append("%s%%" % match.group(1))
        elif re.fullmatch(r"[0-9]+", text) and int(text) > 0 and not isinstance(item, bool):
            out.append(int(text))
        else:
            raise AnsibleFilterError(
                "jsonmend_fleet_batches=%r: each batch must be a number of targets (1 or more) or a percentage above 0%%,"
                ' at most 100%%, e.g. [1, "10%%", "25%%", "100%%"]. Nothing was changed.' % (value,)
            )
    return out


def fleet_max_fail_percentage(value=0):
    """jsonmend_fleet_max_fail_percentage as a whole number 0-100 (Ansible's max_fail_percentage)."""
    text = str(value if value is not None else 0).strip()
    if not re.fullmatch(r"[0-9]+", text) or int(text) > 100 or isinstance(value, bool):
        raise AnsibleFilterError(
            "jsonmend_fleet_max_fail_percentage=%r must be a whole percentage 0-100 (0: any failed target stops the rollout). Nothing was changed." % (value,)
        )
    return int(text)


def _batch_size(item, total):
    # Ansible's pct_to_int (ansible.utils.helpers): a percentage of the play's hosts, at least 1.
    if isinstance(item, str) and item.endswith("%"):
        return int(float(item[:-1]) / 100.0 * total) or 1
    return int(item)


STAGES = ("all", "canary", "batches")


def fleet_stage(value="all"):
    """jsonmend_fleet_stage: all (canary, then batches), canary (the canary alone) or batches (the rest, the canary
    already done by an earlier canary run - AWX's workflow puts an approval between the two)."""
    text = "all" if value in (None, "") else str(value).strip().lower()
    if text not in STAGES:
        raise AnsibleFilterError(
            "jsonmend_fleet_stage=%r must be all (the canary, then the batches), canary (the canary alone) or batches"
            " (the other targets, after a canary run). Nothing was changed." % (value,)
        )
    return text


def fleet_stage_groups(plan, stage="all"):
    """The hosts of the rollout's two plays for a stage: {canary: [...], batches: [...]}. In stage batches no
    target goes alone: the canary stage already proved the repair (its target is skipped as already done)."""
    plan, stage = plan or {}, fleet_stage(stage)
    canary, rest = list(plan.get("canary") or []), list(plan.get("rest") or [])
    if stage == "canary":
        return {"canary": canary, "batches": []}
    if stage == "batches":
        return {"canary": [], "batches": canary + rest}
    return {"canary": canary, "batches": rest}


def fleet_batches(hosts, serial=None):
    """The batches Ansible's `serial` makes of `hosts` (PlaybookExecutor._get_serialized_batches):
    each value in turn, the last one repeated until every host has its batch."""
    hosts, serial = list(hosts or []), fleet_serial(serial)
    total, batches, index = len(hosts), [], 0
    while hosts:
        size = _batch_size(serial[index], total)
        batches.append(hosts[:size])
        hosts = hosts[size:]
        index = min(index + 1, len(serial) - 1)
    return batches


def fleet_batch_failed(failed, size, max_fail_percentage=0):
    """Whether Ansible stops the rollout after this batch: more than max_fail_percentage of the batch
    failed (linear strategy), or all of it did (PlaybookExecutor)."""
    failed, size = int(failed), int(size)
    if size <= 0 or failed <= 0:
        return False
    return failed == size or failed / size > fleet_max_fail_percentage(max_fail_percentage) / 100.0


def _latest_repair(ledger):
    runs = (ledger or {}).get("runs") or []
    return next((r for r in runs if isinstance(r, dict) and r.get("kind") == "repair"), None)


def fleet_target_plan(scan, ledger=None, error=""):
    """What the rollout does with one target, from its diagnosis (`scan`) and its ledger (json_type_repair
    status): `repair`, or `skip` when nothing is corrupt now - `already done` when its latest repair
    run finished and was not undone, `clean` when no repair ever ran. The fresh scan is the re-scan."""
    if error:
        return dict(action="fail", reason=str(error), corrupted=None, rows=None, latest_repair_run="", latest_repair_status="")
    if not isinstance(scan, dict) or "corrupted_rows" not in scan:
        raise AnsibleFilterError("jsonmend_fleet_target_plan needs the target's diagnosis (diagnose_scan), got %r" % (scan,))
    latest = _latest_repair(ledger)
    corrupted, rows = int(scan.get("corrupted_rows") or 0), int(scan.get("total_rows") or 0)
    plan = dict(corrupted=corrupted, rows=rows, latest_repair_run=(latest or {}).get("run_id") or "", latest_repair_status=(latest or {}).get("status") or "")
    done = latest is not None and latest.get("status") == "finished" and not latest.get("undone_by")
    if corrupted:
        why = "%d corrupted rows" % corrupted
        if latest is not None and latest.get("status") in ("running", "stopped"):
            why += "; resumes unfinished repair run %s" % latest["run_id"]
        elif done:
            why += " again since repair run %s" % latest["run_id"]
        return dict(plan, action="repair", reason=why)
    if done:
        return dict(plan, action="skip", reason="already done: repair run %s finished and the scan finds no corrupt row" % latest["run_id"])
    if latest is not None and latest.get("status") in ("running", "stopped"):
        # Nothing corrupt, but an unfinished run holds the ledger: finishing it settles the ledger.
        return dict(plan, action="repair", reason="no corrupted rows; finishes unfinished repair run %s" % latest["run_id"])
    return dict(plan, action="skip", reason="clean: no corrupted row, nothing to repair")


def fleet_rollout_plan(entries, names, canary=None, serial=None):
    """The rollout's plan from every target's fleet_plan (entries[i] for names[i], in inventory order):
    the canary (the given hosts that need a repair, else the first target that does), then the batches
    of the rest as `serial` cuts them; skipped and failed targets; the corrupted rows it repairs."""
    if not isinstance(entries, list) or not isinstance(names, list) or len(entries) != len(names):
        raise AnsibleFilterError("jsonmend_fleet_rollout_plan expects one entry per target name")
    plans = {n: (e or {}) for n, e in zip(names, entries, strict=True)}
    failed = [n for n in names if plans[n].get("action", "fail") == "fail"]
    todo = [n for n in names if plans[n].get("action") == "repair"]
    skipped = [n for n in names if plans[n].get("action") == "skip"]
    # The canary group's targets that still need a repair; once they are all done (a resumed rollout),
    # the first target that does goes alone first again.
    chosen = [n for n in (canary or []) if n in todo]
    canary_hosts = chosen or todo[:1]
    rest = [n for n in todo if n not in canary_hosts]
    serial = fleet_serial(serial)
    return dict(
        canary=canary_hosts,
        canary_from="group jsonmend_canary" if chosen else "the first target that needs a repair",
        batches=fleet_batches(rest, serial),
        serial=serial,
        rest=rest,
        skipped=skipped,
        failed=failed,
        corrupted=sum(int(plans[n].get("corrupted") or 0) for n in todo),
        counts={n: int(plans[n].get("corrupted") or 0) for n in todo},
        # A fleet deploy's per-target strategy (fleet_deploy.yml; empty in a fleet repair).
        strategies={n: str(plans[n].get("strategy") or "") for n in todo if plans[n].get("strategy")},
        reasons={n: str(plans[n].get("reason") or "") for n in skipped + failed},
        targets=len(names),
    )


# The strategies deploy.yml holds the application in maintenance for (checklist_result.gates.maintenance).
MAINTENANCE_STRATEGIES = ("B", "C", "D")


def fleet_maintenance(plan):
    """A fleet deploy's maintenance decision: none. One application serves every target; its code goes first and
    reads both shapes, and each target's repair is online and chunked, so the data rollout does not stop the
    application - not even for the targets whose strategy (B, C, D) deploy.yml would take a maintenance window for.
    {used: false, targets: {target: strategy} of those, statement: what the plan and the report say ('' for none)}."""
    strategies = (plan or {}).get("strategies") or {}
    asking = {n: s for n, s in strategies.items() if s in MAINTENANCE_STRATEGIES}
    statement = ""
    if asking:
        statement = (
            "No maintenance mode: deploy.yml would hold the application in maintenance for strategy %s (%s), but one"
            " application serves every target, its fixed code goes first and reads both shapes, and each repair is online"
            " and in chunks, so the application keeps serving during the whole data rollout. For a window anyway, switch it"
            " yourself before and after: ./jsonmend maintenance -i <this inventory> -e maintenance_action=enable|disable."
            % ("/".join(sorted(set(asking.values()))), ", ".join("%s %s" % kv for kv in sorted(asking.items())))
        )
    return dict(used=False, targets=asking, statement=statement)


def fleet_rollout_question(plan, max_fail_percentage=0, code=None):
    """The one question of a rollout: what changes where, in which order, and how it stops. A fleet deploy
    (`code`: jsonmend_fleet_code_plan) says first what happens to the code, and each target's strategy."""
    counts, strategies = plan.get("counts") or {}, plan.get("strategies") or {}

    def named(hosts):
        return ", ".join("%s (%d%s)" % (h, counts.get(h, 0), ", strategy %s" % strategies[h] if strategies.get(h) else "") for h in hosts)

    prefix = ("%s " % fleet_code_sentence(code)) if code else ""
    todo = len(plan.get("canary") or []) + len(plan.get("rest") or [])
    if not todo:
        return prefix + "Nothing to repair: none of the %d targets has a corrupted row (%s)." % (
            plan.get("targets", 0),
            "; ".join("%s: %s" % kv for kv in sorted((plan.get("reasons") or {}).items())) or "no target",
        )
    batches = "; ".join("batch %d: %s" % (i, named(b)) for i, b in enumerate(plan.get("batches") or [], start=1)) or "none"
    pct = fleet_max_fail_percentage(max_fail_percentage)
    maintenance = fleet_maintenance(plan)["statement"] if code else ""
    return (
        prefix
        + (
            "About to repair %d corrupted rows in %d of %d targets, online in chunks, each target with its own verified backup, lock,"
            " quarantine (every original kept) and run record. First the canary (%s), alone, verified by its re-scan: %s. Then the"
            " batches (serial %s): %s. A batch in which %s fails stops the rollout: that batch's targets are rolled back by the undo"
            " of their repair, earlier batches stay repaired (each with its undo command in the report), later ones untouched%s."
            " Skipped: %s."
            % (
                plan.get("corrupted", 0),
                todo,
                plan.get("targets", 0),
                plan.get("canary_from"),
                named(plan.get("canary") or []),
                plan.get("serial"),
                batches,
                "any target" if pct == 0 else "more than %d%% of the targets" % pct,
                "; the code stays deployed (the fixed code reads both shapes)" if code else "",
                ", ".join("%s (%s)" % (h, (plan.get("reasons") or {}).get(h, "")) for h in plan.get("skipped") or []) or "none",
            )
        )
        + ((" " + maintenance) if maintenance else "")
    )


# -- the fleet deploy's code release (playbooks/fleet_deploy.yml) ------------------------------------
CODE_STATUSES = ("ROLLBACK FAILED", "rolled back", "failed", "deployed", "would deploy", "unchanged")


def _short(sha):
    return str(sha or "")[:12] or "?"


def fleet_code_plan(releases, names, errors=None):
    """The code release of a fleet deploy, planned on each app host (`releases[i]`: the deploy role's
    deploy_release after its plan on names[i], anything else - false - when there is none; `errors[i]`: that failure): the
    ref, the commit each host runs and the one it would run, and whether anything changes."""
    releases, names = list(releases or []), list(names or [])
    errors = list(errors or [""] * len(names))
    if not (len(releases) == len(names) == len(errors)):
        raise AnsibleFilterError("jsonmend_fleet_code_plan expects one release and one error per app host")
    if not names:
        return dict(hosts=[], failed={}, ref="", current={}, target="", changes=False, error="no host in the app group: there is no code to deploy")
    failed = {n: str(e or "the plan did not finish") for n, r, e in zip(names, releases, errors, strict=True) if e or not isinstance(r, dict)}
    planned = {n: r for n, r in zip(names, releases, strict=True) if n not in failed}
    targets = sorted({str(r.get("target") or "") for r in planned.values()})
    error = "; ".join("%s: %s" % kv for kv in sorted(failed.items()))
    if len(targets) > 1:
        error = (error + "; " if error else "") + "the app hosts resolve the ref to different commits (%s)" % ", ".join(_short(t) for t in targets)
    # An app host whose code deploy was interrupted (its in-progress deploy record, deploy:plan's `resumes`)
    # finishes it, even when the checkout already reached the release: requirements, migrations, restart
    # and checks may not have run, and the commit to return to stays the one the first attempt started from.
    resumes = {n: str(r.get("resumes")) for n, r in planned.items() if r.get("resumes")}
    return dict(
        hosts=names,
        failed=failed,
        ref=next((str(r.get("ref") or "") for r in planned.values()), ""),
        current={n: str(r.get("current") or "") for n, r in planned.items()},
        previous={n: str(r.get("previous") or "") for n, r in planned.items()},
        target=targets[0] if len(targets) == 1 else "",
        changes=any(bool(r.get("changes_code")) for r in planned.values()) or bool(resumes),
        resumes=resumes,
        error=error,
    )


def fleet_code_sentence(code):
    """The code part of a fleet deploy's question."""
    code = code or {}
    hosts = ", ".join(code.get("hosts") or []) or "no app host"
    if not code.get("changes"):
        release = "%s (%s)" % (code.get("ref") or "the release", _short(code.get("target")))
        return "Code: %s already runs %s: not redeployed, only the rows are repaired." % (hosts, release)
    current = sorted({_short(c) for c in (code.get("current") or {}).values()})
    resumes = code.get("resumes") or {}
    if resumes:
        previous = sorted({_short(p) for n, p in (code.get("previous") or {}).items() if n in resumes})
        return (
            "Code first, once, before any data changes: FINISH the interrupted code deploy %s (its deploy record is still in"
            " progress) - %s %s -> %s on %s, the checkout now at %s (requirements, migrations, restart, health, then the"
            " management commands, a quiz answer through the application and the error log); the commit to return to stays"
            " %s, where the interrupted deploy started; if that fails the code goes back to it by itself and no target is touched."
            % (
                ", ".join(sorted(set(resumes.values()))),
                code.get("ref") or "",
                "/".join(previous) or "?",
                _short(code.get("target")),
                hosts,
                "/".join(current) or "?",
                "/".join(previous) or "the previous commit",
            )
        )
    return (
        "Code first, once, before any data changes: deploy %s %s -> %s on %s (requirements, migrations, restart, health, then the"
        " management commands, a quiz answer through the application and the error log); if that fails the code goes back to %s"
        " by itself and no target is touched."
        % (code.get("ref") or "", "/".join(current) or "?", _short(code.get("target")), hosts, "/".join(current) or "the previous commit")
    )


def fleet_code_status(entries, names=None):
    """The code release's status for the fleet report, from what each app host published (fleet_code;
    `entries[i]` for names[i], {} when it never got there): deployed, unchanged, rolled back, ROLLBACK FAILED,
    would deploy (check mode), or unchanged with the note that the rollout stopped before it."""
    entries = [e or {} for e in (entries or [])]
    names = list(names or [str(i) for i in range(len(entries))])
    reached = [(n, e) for n, e in zip(names, entries, strict=True) if e.get("status")]
    if not reached:
        note = "not reached: the rollout stopped before the code deploy"
        return dict(status="unchanged", note=note, resumes="", hosts={}, ref="", previous="", new="", error="")
    status = next(s for s in CODE_STATUSES if any(e["status"] == s for _name, e in reached))
    first = reached[0][1]
    resumed = sorted({str(e.get("resumes")) for _name, e in reached if e.get("resumes")})
    notes = {
        "deployed": "deployed once, before the data; it stays deployed whatever happens to the data (it reads both shapes)",
        "unchanged": "already at the release: not redeployed",
        "would deploy": "check mode: nothing was deployed",
        "rolled back": "the code deploy failed and was rolled back by itself; no target was touched",
        "failed": "the code deploy failed",
        "ROLLBACK FAILED": "the code deploy failed and its rollback failed too: see the error",
    }
    note = notes[status]
    if resumed:
        # Said in the report: this run finished a deploy another run started (its record stays in_progress).
        note += "; resumed the interrupted code deploy %s (the commit to return to is still the one it started from)" % ", ".join(resumed)
    return dict(
        status=status,
        note=note,
        resumes=", ".join(resumed),
        hosts={n: e.get("status") for n, e in reached},
        ref=str(first.get("ref") or ""),
        previous=str(first.get("previous") or ""),
        new=str(first.get("new") or ""),
        run_id=str(first.get("run_id") or ""),
        error="; ".join("%s: %s" % (n, e["error"]) for n, e in reached if e.get("error")),
    )


def fleet_undo_command(target, run_id, inventory=""):
    """The command that undoes one target's repair run (playbooks/fleet_undo.yml)."""
    if not target or not run_id:
        return ""
    words = ["./jsonmend", "fleet_undo"] + (["-i", str(inventory)] if inventory else [])
    words += ["--limit", str(target), "-e", "jsonmend_rollback_run_id=%s" % run_id]
    return " ".join(shlex.quote(w) for w in words)


def fleet_code_commands(inventory="", report_dir=""):
    """The commands that watch (monitor.yml) and roll back (rollback.yml, code only) a fleet deploy's code release,
    with the fleet's own inventory (group app; the targets are not in their play) and the fleet's report directory
    when it is not the checkout's reports/ (the deploy records are read there)."""
    common = (["-i", str(inventory)] if inventory else []) + (["-e", "jsonmend_report_dir=%s" % report_dir] if report_dir else [])
    return dict(
        monitor_command=" ".join(shlex.quote(w) for w in ["./jsonmend", "monitor"] + common),
        rollback_command=" ".join(shlex.quote(w) for w in ["./jsonmend", "rollback"] + common + ["-e", "jsonmend_rollback_scope=code"]),
    )


def _rollout_row(name, plan, done, batch, inventory):
    plan, done = plan or {}, done or {}
    row = dict(
        target=name,
        server=str(done.get("server") or plan.get("server") or ""),
        database=str(done.get("database") or plan.get("database") or ""),
        table=str(done.get("table") or plan.get("table") or ""),
        batch=batch,
        strategy=str(plan.get("strategy") or ""),
        batch_hosts=list(done.get("batch_hosts") or []),
        run_id=str(done.get("run_id") or plan.get("run_id") or ""),
        corrupted_before=plan.get("corrupted"),
        rows_changed=None,
        corrupted_after=None,
        repair_run_id="",
        backup_id=str(done.get("backup_id") or ""),
        undo_command="",
        note="",
        error="",
    )
    action = plan.get("action", "fail")
    if action == "fail":
        return dict(row, status="failed", note="not planned: the read-only plan failed", error=str(plan.get("reason") or "no plan"))
    if action == "skip":
        run = plan.get("latest_repair_run") or ""
        cmd = fleet_undo_command(name, run, inventory) if run else ""
        return dict(row, status="skipped", note=plan.get("reason") or "", repair_run_id=run, corrupted_after=0, undo_command=cmd)
    if not done:
        return dict(row, status="untouched", note="not reached: the rollout stopped before its batch")
    run = str(done.get("repair_run_id") or "")
    changed = done.get("rows_changed")
    row.update(repair_run_id=run, rows_changed=changed, corrupted_after=done.get("corrupted_after"))
    error, undo_error = str(done.get("error") or ""), str(done.get("undo_error") or "")
    undo = done.get("undo") or {}
    undo_note = undo.get("reason") or ""
    if undo.get("method") == "undo" and undo.get("restored") is not None:
        undo_note = "undo restored %s rows of repair run %s" % (undo["restored"], run)
        if int(undo.get("conflicts") or 0):
            undo_note += " (%s rows changed since kept their newer value)" % undo["conflicts"]
    if undo_error:
        # The data is not back: the command resumes the undo (it continues where it stopped).
        return dict(
            row,
            status="failed",
            error="%s%sROLLBACK FAILED: %s" % (error, "; " if error else "", undo_error),
            undo_command=fleet_undo_command(name, run, inventory),
            note="rolled back: no (the undo did not finish)",
        )
    if error:
        return dict(row, status="failed", error=error, note="rolled back: %s" % (undo_note or "nothing to undo"))
    if done.get("rolled_back"):
        return dict(row, status="rolled back", note="its batch failed; %s" % (undo_note or "nothing to undo"))
    cmd = fleet_undo_command(name, run, inventory) if run and int(changed or 0) > 0 else ""
    return dict(row, status="done", note="repaired and re-scanned clean" if int(changed or 0) else "nothing left to repair", undo_command=cmd)


def fleet_rollout_report(plan, plans, rollouts, names, context=None):
    """The rollout's report: one row per target (status done, rolled back, failed, untouched or skipped,
    with its run ids and undo command) and the counts per status. `plans[i]` / `rollouts[i]` are what
    target names[i] published (fleet_plan, fleet_rollout; {} when it never got there)."""
    if not (isinstance(plans, list) and isinstance(rollouts, list) and isinstance(names, list)) or not len(plans) == len(rollouts) == len(names):
        raise AnsibleFilterError("jsonmend_fleet_rollout_report expects one plan and one rollout entry per target name")
    plan = plan or {}
    context = dict(context or {})
    batch_of = {n: "canary" for n in plan.get("canary") or []}
    for number, batch in enumerate(plan.get("batches") or [], start=1):
        batch_of.update({n: number for n in batch})
    rows = [_rollout_row(n, p, r, batch_of.get(n), context.get("inventory") or "") for n, p, r in zip(names, plans, rollouts, strict=True)]
    totals = {s: sum(1 for r in rows if r["status"] == s) for s in ROLLOUT_STATUSES}
    totals.update(
        targets=len(rows),
        rows_changed=sum(int(r["rows_changed"] or 0) for r in rows if r["status"] == "done"),
        corrupted_before=sum(int(r["corrupted_before"] or 0) for r in rows if r["corrupted_before"] is not None),
    )
    report_dir = context.pop("report_dir", "")
    report = dict(context)
    code = report.get("code")
    if isinstance(code, dict):
        # A release this run deployed has a deploy record to watch and roll back: say how, with this inventory.
        deployed = code.get("status") == "deployed" and not report.get("check_mode")
        commands = fleet_code_commands(context.get("inventory") or "", report_dir) if deployed else dict(monitor_command="", rollback_command="")
        report["code"] = dict(code, **commands)
        # A fleet deploy says what it decided about maintenance mode (none), and why, for the targets that would ask for it.
        report["maintenance"] = fleet_maintenance(plan)
    report.update(
        plan={k: plan.get(k) for k in ("canary", "canary_from", "batches", "serial", "skipped", "failed", "corrupted")},
        targets=rows,
        totals=totals,
    )
    return report


def fleet_rollout_markdown(report):
    """fleet.md of a rollout: the plan's batches, then one row per target with its status and undo. A fleet
    deploy's (the report has `code`) says first what happened to the code, and each target's strategy."""
    totals, plan, code = report["totals"], report.get("plan") or {}, report.get("code")
    lines = [
        "# Fleet %s %s%s"
        % ("deploy" if code else "repair", report.get("fleet_run_id", ""), " (check mode: nothing was changed)" if report.get("check_mode") else ""),
        "",
    ]
    if code:
        lines += [
            "Code: **%s** (%s%s)%s."
            % (
                code.get("status"),
                code.get("ref") or "the release",
                (": %s -> %s" % (_short(code.get("previous")), _short(code.get("new")))) if code.get("previous") else "",
                "; " + code["note"] if code.get("note") else "",
            ),
            "",
        ]
        if code.get("error"):
            lines += ["Code error: %s" % _cell(code["error"]), ""]
        if (report.get("maintenance") or {}).get("statement"):
            lines += [report["maintenance"]["statement"], ""]
        if code.get("rollback_command"):
            lines += [
                "Watch the release: `%s`. Roll the code back (to %s; the targets' repairs stay, each undone by its own command below):"
                " `%s`." % (code.get("monitor_command"), _short(code.get("previous")), code["rollback_command"]),
                "",
            ]
    lines += [
        "%d targets: %s. %s rows repaired."
        % (totals["targets"], ", ".join("%d %s" % (totals[s], s) for s in ROLLOUT_STATUSES), "{:,}".format(totals["rows_changed"])),
        "",
        "Canary (%s): %s. Batches (serial %s): %s."
        % (
            plan.get("canary_from") or "",
            ", ".join(plan.get("canary") or []) or "none",
            _cell(plan.get("serial")),
            "; ".join("%d: %s" % (i, ", ".join(b)) for i, b in enumerate(plan.get("batches") or [], start=1)) or "none",
        ),
        "",
        "| target | server | batch |%s status | corrupted before | rows repaired | corrupted after | repair run | undo | note | error |"
        % (" strategy |" if code else ""),
        "|---|---|---|%s---|---:|---:|---:|---|---|---|---|" % ("---|" if code else ""),
    ]
    for r in report["targets"]:
        undo = "`%s`" % r["undo_command"] if r["undo_command"] else ""
        cells = (
            (r["target"], r["server"], r["batch"])
            + ((r.get("strategy"),) if code else ())
            + (r["status"], r["corrupted_before"], r["rows_changed"], r["corrupted_after"], r["repair_run_id"], undo, r["note"], r["error"])
        )
        lines.append("| %s |" % " | ".join(_cell(v) for v in cells))
    lines += [
        "",
        "Each target's own record: reports/<run id>/record.md (the run_id of %s)." % ("fleet-deploy-latest.json" if code else "fleet-cleanup-latest.json"),
        "",
    ]
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {
            "jsonmend_fleet_report": fleet_report,
            "jsonmend_fleet_target_entries": fleet_target_entries,
            "jsonmend_fleet_markdown": fleet_markdown,
            "jsonmend_fleet_prometheus": fleet_prometheus,
            "jsonmend_fleet_monitor_judge": fleet_monitor_judge,
            "jsonmend_fleet_serial": fleet_serial,
            "jsonmend_fleet_max_fail_percentage": fleet_max_fail_percentage,
            "jsonmend_fleet_batches": fleet_batches,
            "jsonmend_fleet_stage": fleet_stage,
            "jsonmend_fleet_stage_groups": fleet_stage_groups,
            "jsonmend_fleet_batch_failed": fleet_batch_failed,
            "jsonmend_fleet_target_plan": fleet_target_plan,
            "jsonmend_fleet_rollout_plan": fleet_rollout_plan,
            "jsonmend_fleet_rollout_question": fleet_rollout_question,
            "jsonmend_fleet_undo_command": fleet_undo_command,
            "jsonmend_fleet_rollout_report": fleet_rollout_report,
            "jsonmend_fleet_rollout_markdown": fleet_rollout_markdown,
            "jsonmend_fleet_code_plan": fleet_code_plan,
            "jsonmend_fleet_code_status": fleet_code_status,
        }
