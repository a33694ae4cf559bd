# The first-24-hours watch as pure functions: where to resume reading each error log (rotation
# included), what is new since the last run, and the state to remember so a schedule never
# repeats an alert.
from __future__ import annotations

import datetime

from ansible.errors import AnsibleFilterError

STATE_VERSION = 1
NOT_OBJECT = ("OBJECT",)


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _scan_summary(scan):
    by_type = (scan or {}).get("by_type") or {}
    kinds = sorted((k, _int(v)) for k, v in by_type.items() if k not in NOT_OBJECT and _int(v) > 0)
    return ", ".join("%s %d" % kv for kv in kinds)


def monitor_judge(state, hosts, scan=None, scan_error="", deploy_run_id=None, now="", max_samples=10, names=None):
    """What is new since the last run, the alert text, and the state to save.

    `hosts` maps a host to {path, inode, size, baseline, note, results: [log_scan results]};
    `names` maps a pattern to the name the alert gives it.
    The log offsets move on every run, so a line is reported once. The scan alerts when the
    corrupted count rises above the count last alerted (reset by a new deploy); a count that
    falls is remembered, so a new rise alerts again. A failing scan alerts once until it works.
    """
    state = state if isinstance(state, dict) else {}
    names = names if isinstance(names, dict) else {}
    if not isinstance(hosts, dict):
        raise AnsibleFilterError("monitor_judge needs a mapping of host to its log results")
    same_deploy = state.get("deploy_run_id") == deploy_run_id
    previous = (state.get("scan") or {}) if same_deploy else {}
    lines, samples, new_total, logs_state = [], [], 0, {}
    for host in sorted(hosts):
        entry = hosts[host] if isinstance(hosts[host], dict) else {}
        results = [r for r in entry.get("results") or [] if isinstance(r, dict)]
        count = sum(_int(r.get("match_count")) for r in results)
        new_total += count
        offset = entry.get("size")
        for result in results:
            if result.get("path") == entry.get("path") and result.get("exists"):
                offset = result.get("size")
        logs_state[host] = dict(path=entry.get("path"), inode=entry.get("inode"), offset=_int(offset))
        if count:
            per_pattern = {}
            for result in results:
                for pattern, n in (result.get("counts") or {}).items():
                    name = names.get(pattern, pattern)
                    per_pattern[name] = per_pattern.get(name, 0) + _int(n)
            lines.append(
                "- %s %s: %d new entr%s (%s)"
                % (host, entry.get("path"), count, "y" if count == 1 else "ies", ", ".join("%s: %d" % kv for kv in sorted(per_pattern.items()) if kv[1]))
            )
            for result in results:
                for match in result.get("matches") or []:
                    if len(samples) < max_samples:
                        text = match.get("text", "")
                        if match.get("last"):
                            text += " ... " + match["last"]
                        samples.append("  %s line %s: %s" % (host, match.get("line"), text))
    alerted_before = _int(previous.get("alerted_corrupted_rows"))
    scan_state = dict(previous)
    scan_alert = scan_error_alert = False
    if scan_error:
        scan_error_alert = not previous.get("error")
        scan_state.update(error=str(scan_error)[:500])
        if scan_error_alert:
            lines.append("- the re-scan FAILED: %s" % str(scan_error)[:300])
    elif isinstance(scan, dict) and "corrupted_rows" in scan:
        corrupted = _int(scan.get("corrupted_rows"))
        scan_alert = corrupted > alerted_before
        scan_state = dict(
            corrupted_rows=corrupted,
            total_rows=_int(scan.get("total_rows")),
            alerted_corrupted_rows=corrupted if scan_alert else min(alerted_before, corrupted),
            scanned_at=scan.get("scanned_at") or (scan.get("scan") or {}).get("scanned_at") or now,
            error=None,
        )
        if scan_alert:
            kinds = _scan_summary(scan)
            lines.append(
                "- the table holds %d corrupted row(s)%s%s"
                % (corrupted, " (%d when last reported)" % alerted_before if alerted_before else "", ": " + kinds if kinds else "")
            )
    alert = bool(new_total) or scan_alert or scan_error_alert
    parts = []
    if new_total:
        parts.append("%d new error log entr%s" % (new_total, "y" if new_total == 1 else "ies"))
    if scan_alert:
        parts.append("%d corrupted row(s)" % scan_state["corrupted_rows"])
    if scan_error_alert:
        parts.append("the re-scan failed")
    summary = "; ".join(parts) if parts else "nothing new"
    message = "\n".join([summary, ""] + lines + (["", "Matching entries:"] + samples if samples else [])) if alert else summary
    new_state = dict(
        version=STATE_VERSION,
        deploy_run_id=deploy_run_id,
        updated_at=now,
        logs=logs_state,
        scan=scan_state,
        last_alert=dict(at=now, summary=summary) if alert else state.get("last_alert") if same_deploy else None,
    )
    return dict(
        alert=alert,
        summary=summary,
        message=message,
        new_log_entries=new_total,
        scan_alert=scan_alert,
        scan_error_alert=scan_error_alert,
        corrupted_rows=scan_state.get("corrupted_rows"),
        alerted_before=alerted_before,
        state=new_state,
    )


def monitor_watching(deploy, window_hours, now=None):
    """{watching, reason}: is the last deploy within the watch window (0 = always watch)?"""
    hours = float(window_hours or 0)
    release = (deploy or {}).get("release") or {}
    when = release.get("finished_at") or release.get("started_at") or ((deploy or {}).get("run") or {}).get("started_at")
    if not hours:
        return dict(watching=True, reason="no watch window (monitor_window_hours: 0)")
    if not when:
        return dict(watching=True, reason="no deploy recorded: watching without a window")
    try:
        then = datetime.datetime.strptime(str(when), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise AnsibleFilterError("deploy time %r is not YYYY-mm-ddTHH:MM:SSZ" % (when,)) from None
    current = now or datetime.datetime.now(datetime.UTC)
    if isinstance(current, str):
        current = datetime.datetime.strptime(current, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    age = (current - then).total_seconds() / 3600.0
    if age <= hours:
        return dict(watching=True, reason="deploy %s finished %.1f h ago (window %g h)" % ((deploy.get("run") or {}).get("id"), age, hours))
    return dict(watching=False, reason="the last deploy finished %.1f h ago, past the %g h window: nothing to watch" % (age, hours))


ROLLBACK_PLAYBOOKS = ("rollback.yml", "emergency_rollback.yml")


def _same_target(recorded, wanted):
    recorded, wanted = recorded or {}, wanted or {}
    return not any(wanted.get(k) and recorded.get(k) and wanted[k] != recorded[k] for k in ("database", "table"))


def monitor_rolled_back(deploy, deploys=None, records=None, target=None):
    """Why the deploy to watch is no longer in place ('' when it is).

    `deploy` is the newest deploy still recorded as deployed (jsonmend_last_deploy; {} for none),
    `deploys` every parsed deploy.json, `records` every parsed record.json. A deploy run that rolled
    itself back, newer than `deploy`, leaves nothing to watch when there is no older deploy; a
    rollback.yml or emergency_rollback.yml run that rolled back after `deploy` took it away.
    """
    deploy = deploy if isinstance(deploy, dict) else {}
    run = deploy.get("run") or {}
    since = str(run.get("started_at") or "")
    for record in sorted((r for r in records or [] if isinstance(r, dict)), key=lambda r: str(r.get("started_at") or "")):
        if (
            record.get("playbook") in ROLLBACK_PLAYBOOKS
            and record.get("outcome") == "rolled_back"
            and not record.get("check_mode")
            and _same_target(record.get("target"), target)
            and str(record.get("started_at") or "") > since
        ):
            what = "deploy %s" % run["id"] if run.get("id") else "the last deploy"
            return "%s was rolled back by run %s (%s at %s): nothing to watch" % (what, record.get("run_id"), record.get("playbook"), record.get("started_at"))
    if not deploy:
        rolled = [
            d
            for d in deploys or []
            if isinstance(d, dict)
            and d.get("outcome") == "rolled_back"
            and not (d.get("run") or {}).get("check_mode")
            and _same_target((d.get("run") or {}).get("target"), target)
        ]
        if rolled:
            newest = max(rolled, key=lambda d: str((d.get("run") or {}).get("started_at") or ""))["run"]
            return "deploy %s failed and was rolled back at once (%s): nothing to watch" % (newest.get("id"), newest.get("started_at"))
    return ""


def monitor_watch(deploy, window_hours, rolled_back="", now=None):
    """monitor_watching, except that a deploy rolled back is not watched (unless the window is 0: always)."""
    if rolled_back and float(window_hours or 0):
        return dict(watching=False, reason=rolled_back)
    return monitor_watching(deploy, window_hours, now)


class FilterModule:
    """jsonmend monitor filters."""

    def filters(self):
        return {
            "jsonmend_monitor_judge": monitor_judge,
            "jsonmend_monitor_watching": monitor_watching,
            "jsonmend_monitor_rolled_back": monitor_rolled_back,
            "jsonmend_monitor_watch": monitor_watch,
        }
