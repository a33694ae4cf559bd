# The fleet report: one row per database target, the fleet's totals, its Markdown and its Prometheus
# textfile, from what each target's play left in hostvars (pure functions; unit tested).
from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Kinds a scan counts that are not corruption (the scan's own rule: corrupted = total - NULL - these).
NOT_CORRUPT = ("OBJECT", "READABLE OBJECT")
STATUSES = ("clean", "corrupt", "failed")


def _int(value):
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


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
    return {
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


def fleet_markdown(report):
    """fleet.md: the table an operator reads, one row per target, then the totals."""
    totals = report["totals"]
    lines = [
        "# Fleet diagnosis %s" % report.get("fleet_run_id", ""),
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
        "| target | server | rows | corrupted | by type | strategy | status | duration (s) | error |",
        "|---|---|---:|---:|---|---|---|---:|---|",
    ]
    for r in report["targets"]:
        kinds = ", ".join("%s %d" % (k, v) for k, v in r["by_type"].items())
        lines.append(
            "| %s |"
            % " | ".join(
                _cell(v) for v in (r["target"], r["server"], r["rows"], r["corrupted"], kinds, r["strategy"], r["status"], r["duration_s"], r["error"])
            )
        )
    kinds = ", ".join("%s %d" % (k, v) for k, v in totals["by_type"].items())
    lines += [
        "| **total** | %d servers | %d | %d | %s | | %d failed | | |"
        % (totals["servers"], totals["rows"], totals["corrupted"], _cell(kinds), totals["failed"]),
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


class FilterModule:
    def filters(self):
        return {
            "jsonmend_fleet_report": fleet_report,
            "jsonmend_fleet_markdown": fleet_markdown,
            "jsonmend_fleet_prometheus": fleet_prometheus,
        }
