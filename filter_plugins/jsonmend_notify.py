# Who is told what: the runbook's "Contact & Escalation" section as pure functions. The notify
# role routes a message to contacts (notify_contacts) by event (notify_routes), delivers it by each
# contact's channels and reports every delivery; nothing here sends anything.
from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

CHANNELS = ("email", "webhook", "pagerduty")
EVENTS = (
    "pre_deployment",
    "success",
    "post_deployment_issue",
    "strategy_c_cleanup",
    "strategy_d_escalation",
    "emergency_rollback",
    "weekly_corruption",
    "guard_change",
)
# message -> the event it is when nothing more specific applies.
MESSAGE_EVENTS = {
    "pre_deployment": "pre_deployment",
    "success": "success",
    "fleet_deploy_success": "success",
    "rollback": "post_deployment_issue",
    "monitor_alert": "post_deployment_issue",
    "weekly_alert": "weekly_corruption",
    "fleet_weekly_alert": "weekly_corruption",
    "fleet_monitor_alert": "post_deployment_issue",
    "guard_change": "guard_change",
}
# PagerDuty severities (Events API v2: critical, error, warning, info) per event.
SEVERITIES = {
    "emergency_rollback": "critical",
    "post_deployment_issue": "error",
    "strategy_d_escalation": "warning",
    "weekly_corruption": "warning",
}
OK = ("ok", "skipped (check mode)")


def jsonmend_notify_events(message, strategy="", event=""):
    """The events a message is: `event` when the caller names one (emergency_rollback), else the
    message's own, plus the strategy's escalation for a pre-deployment notice (C: the development
    team before the cleanup; D: a senior engineer)."""
    if event:
        return [str(event)]
    if message not in MESSAGE_EVENTS:
        raise AnsibleFilterError("unknown notify_message %r: one of %s" % (message, ", ".join(sorted(MESSAGE_EVENTS))))
    events = [MESSAGE_EVENTS[message]]
    if message == "pre_deployment" and strategy in ("C", "D"):
        events.append("strategy_c_cleanup" if strategy == "C" else "strategy_d_escalation")
    return events


def _emails(value):
    if value in (None, ""):
        return []
    return [value] if isinstance(value, str) else list(value)


def jsonmend_notify_problems(contacts, routes):
    """What is wrong with notify_contacts and notify_routes, as refusal sentences (empty: fine).
    Secrets (webhook URLs, routing keys) are never quoted."""
    problems = []
    if not isinstance(contacts, dict):
        return ["notify_contacts must be a mapping of contact name -> channels"]
    if not isinstance(routes, dict):
        return ["notify_routes must be a mapping of event -> list of contact names"]
    for name, contact in contacts.items():
        if not isinstance(contact, dict):
            problems.append("notify_contacts.%s must be a mapping (email, webhook, pagerduty_routing_key)" % name)
            continue
        unknown = sorted(set(contact) - {"name", "email", "webhook", "webhook_format", "pagerduty_routing_key", "pagerduty_severity"})
        if unknown:
            problems.append("notify_contacts.%s has unknown keys %s" % (name, ", ".join(unknown)))
        if not any(contact.get(k) for k in ("email", "webhook", "pagerduty_routing_key")):
            problems.append("notify_contacts.%s has no channel (email, webhook or pagerduty_routing_key)" % name)
        for address in _emails(contact.get("email")):
            if not re.match(r"^[^@\s]+@[^@\s]+\Z", str(address)):
                problems.append("notify_contacts.%s.email %r is not an address" % (name, address))
        if contact.get("webhook") and not re.match(r"^https?://\S+\Z", str(contact["webhook"])):
            problems.append("notify_contacts.%s.webhook must be an http(s) URL (not shown: it is a credential)" % name)
        if contact.get("webhook_format", "slack") not in ("slack", "teams"):
            problems.append("notify_contacts.%s.webhook_format must be slack or teams" % name)
        if contact.get("pagerduty_severity", "critical") not in ("critical", "error", "warning", "info"):
            problems.append("notify_contacts.%s.pagerduty_severity must be critical, error, warning or info" % name)
    for event, names in routes.items():
        if event not in EVENTS:
            problems.append("notify_routes has unknown event %r (events: %s)" % (event, ", ".join(EVENTS)))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append("notify_routes.%s must be a list of contact names" % event)
    return problems


def jsonmend_notify_route(events, routes, contacts):
    """The deliveries for `events`: one {contact, name, channel, target, ...} per contact and
    channel, contacts in route order without repeats. Route names with no contact are left out
    (the defaults name all the runbook's contacts; an inventory configures those it has)."""
    contacts = contacts if isinstance(contacts, dict) else {}
    routes = routes if isinstance(routes, dict) else {}
    names = []
    for event in events:
        for name in routes.get(event) or []:
            if name not in names:
                names.append(name)
    deliveries = []
    for name in names:
        contact = contacts.get(name)
        if not isinstance(contact, dict):
            continue
        label = contact.get("name") or name.replace("_", " ")
        base = dict(contact=name, name=label)
        if _emails(contact.get("email")):
            deliveries.append(dict(base, channel="email", target=_emails(contact["email"])))
        if contact.get("webhook"):
            deliveries.append(dict(base, channel="webhook", target=contact["webhook"], format=contact.get("webhook_format", "slack")))
        if contact.get("pagerduty_routing_key"):
            severity = contact.get("pagerduty_severity") or max((SEVERITIES.get(e, "info") for e in events), key=_rank)
            deliveries.append(dict(base, channel="pagerduty", target=contact["pagerduty_routing_key"], severity=severity))
    return deliveries


def _rank(severity):
    return ("info", "warning", "error", "critical").index(severity)


def jsonmend_notify_missing(events, routes, contacts):
    """Route names for `events` that notify_contacts does not define."""
    contacts = contacts if isinstance(contacts, dict) else {}
    routes = routes if isinstance(routes, dict) else {}
    return sorted({n for e in events for n in routes.get(e) or [] if n not in contacts})


def jsonmend_notify_told(deliveries, legacy_channels=(), legacy_email_to=()):
    """The line every message carries: who it was sent to (names and channels, never a secret)."""
    by_name = {}
    for d in deliveries or []:
        by_name.setdefault(d["name"], []).append(d["channel"])
    parts = ["%s (%s)" % (name, ", ".join(channels)) for name, channels in by_name.items()]
    if "email" in (legacy_channels or []):
        parts.append("%s (email)" % ", ".join(legacy_email_to or []))
    if "webhook" in (legacy_channels or []):
        parts.append("the team webhook")
    return "Sent to: %s" % ("; ".join(parts) if parts else "nobody (report file only)")


def jsonmend_pagerduty_event(routing_key, summary, source, severity="critical", dedup_key="", details=None):
    """A PagerDuty Events API v2 trigger (POST https://events.pagerduty.com/v2/enqueue)."""
    if severity not in ("critical", "error", "warning", "info"):
        raise AnsibleFilterError("PagerDuty severity must be critical, error, warning or info, not %r" % severity)
    event = dict(
        routing_key=routing_key,
        event_action="trigger",
        dedup_key=str(dedup_key)[:255] or None,
        payload=dict(summary=str(summary)[:1024], source=str(source), severity=severity, component="jsonmend"),
    )
    if details:
        event["payload"]["custom_details"] = details
    if event["dedup_key"] is None:
        del event["dedup_key"]
    return event


def _outcome(channel, result, check_mode):
    if check_mode:
        return "skipped (check mode)"
    result = result if isinstance(result, dict) else {}
    if channel == "email":
        return "ok" if result.get("recipients") is not None else str(result.get("msg") or "failed")
    status = result.get("status")
    if status in (200, 201, 202, 204):
        return "ok"
    # The URL may be a credential: keep it out of the reported error.
    return re.sub(r"https?://\S+", "<url>", ("HTTP status %s %s" % (status if status not in (None, -1) else "none", result.get("msg") or "")).strip())


def jsonmend_notify_results(deliveries, results, sent_at, check_mode=False, message=""):
    """One row per delivery: contact, name, channel, to (addresses; never a URL or a key),
    sent_at and result ('ok', 'skipped (check mode)' or the error). `results` is
    channel -> the registered loop's `results`, in the deliveries' order."""
    rows = []
    by_channel = {}
    for d in deliveries or []:
        by_channel.setdefault(d["channel"], []).append(d)
    for channel, items in by_channel.items():
        registered = list((results or {}).get(channel) or [])
        for i, d in enumerate(items):
            result = registered[i] if i < len(registered) else {}
            to = ", ".join(d["target"]) if channel == "email" else ("PagerDuty" if channel == "pagerduty" else "webhook")
            rows.append(
                dict(
                    message=message,
                    contact=d["contact"],
                    name=d["name"],
                    channel=channel,
                    to=to,
                    sent_at=(sent_at or {}).get(channel) if isinstance(sent_at, dict) else sent_at,
                    result=_outcome(channel, result, check_mode),
                )
            )
    return rows


def jsonmend_notify_failures(rows):
    """The rows whose delivery failed."""
    return [r for r in rows or [] if r.get("result") not in OK]


def jsonmend_notify_warnings(message, channels, rows, missing=()):
    """The lines a notification prints for what did not go: each failed channel of notify_channels
    ({channel: result}), each failed contact delivery (rows), each routed contact the inventory lacks."""
    lines = [
        "WARNING: notification %s was not delivered by %s: %s" % (message, channel, result)
        for channel, result in sorted((channels or {}).items())
        if result not in ("ok", "skipped (check mode)")
    ]
    lines += [
        "WARNING: notification %s was not delivered to %s by %s: %s" % (message, r.get("name"), r.get("channel"), r.get("result"))
        for r in jsonmend_notify_failures(rows)
    ]
    if missing:
        lines.append("WARNING: notification %s: notify_routes names %s, not in notify_contacts" % (message, ", ".join(missing)))
    return lines


class FilterModule:
    def filters(self):
        return {
            "jsonmend_notify_events": jsonmend_notify_events,
            "jsonmend_notify_problems": jsonmend_notify_problems,
            "jsonmend_notify_route": jsonmend_notify_route,
            "jsonmend_notify_missing": jsonmend_notify_missing,
            "jsonmend_notify_told": jsonmend_notify_told,
            "jsonmend_pagerduty_event": jsonmend_pagerduty_event,
            "jsonmend_notify_results": jsonmend_notify_results,
            "jsonmend_notify_failures": jsonmend_notify_failures,
            "jsonmend_notify_warnings": jsonmend_notify_warnings,
        }
