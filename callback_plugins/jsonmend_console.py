# jsonmend's operator console: one line per runbook phase, the messages meant for the operator in
# full, failures with their message, and a closing summary. -v (or more) prints what Ansible's
# default callback prints; ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default turns the console off.
from __future__ import annotations

DOCUMENTATION = r"""
name: jsonmend_console
type: stdout
short_description: jsonmend's operator console
description:
  - Prints each runbook phase (a role, or one entry point of a role) as one line with its outcome and
    duration; the messages of C(ansible.builtin.debug) tasks (the findings table, the checklist, the
    verification, warnings) in full, whatever O(display_ok_hosts) says; failures with their message;
    a line every O(heartbeat) seconds while a task runs long (for a scan on the controller, with its last
    progress line of rows, share, rate and ETA); and a closing summary - outcome, what changed, the scan's rows,
    time and rate, where the run's C(record.md) is, and the next command to run.
  - It names a private directory in the environment variable C(JSONMEND_CONSOLE_PROGRESS_DIR); the diagnose
    role points a scan running on the controller (C(ansible_connection=local)) at a file there.
  - The summary reads C(set_stats) data when present (C(jsonmend_outcome), C(jsonmend_actions),
    C(jsonmend_record), C(jsonmend_next)); without it, it is built from the play's recap.
  - With -v or more it prints exactly what C(ansible.builtin.default) prints.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
options:
  heartbeat:
    description: Seconds between the "still running" lines of a long task (0 = none).
    type: int
    default: 30
    env:
      - name: JSONMEND_CONSOLE_HEARTBEAT
    ini:
      - section: jsonmend_console
        key: heartbeat
requirements:
  - set as the stdout callback (stdout_callback = jsonmend_console in ansible.cfg)
"""

import os
import shutil
import tempfile
import threading
import time

from ansible import constants as C
from ansible import context
from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DEBUG_ACTIONS = ("debug", "ansible.builtin.debug", "ansible.legacy.debug")
PAUSE_ACTIONS = ("pause", "ansible.builtin.pause", "ansible.legacy.pause")
# Entry points that only check settings: one "settings" phase, whatever role they belong to.
SETTINGS_ENTRIES = ("validate",)
WIDTH = 30
# Where a scan on the controller writes its progress lines for the heartbeat (the diagnose role reads it).
PROGRESS_ENV = "JSONMEND_CONSOLE_PROGRESS_DIR"


def _duration(seconds):
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return "%dm%02ds" % (minutes, secs)
    hours, minutes = divmod(minutes, 60)
    return "%dh%02dm" % (hours, minutes)


def _message_lines(msg):
    """A debug message as lines: a list is one line per item, a string is split on newlines."""
    if isinstance(msg, (list, tuple)):
        lines = []
        for item in msg:
            lines.extend(_message_lines(item))
        return lines
    return str(msg).splitlines() or [""]


def _last_progress_line(directory):
    """The newest progress line any scan wrote to `directory` (several hosts may scan at once), or ''."""
    try:
        paths = [os.path.join(directory, n) for n in os.listdir(directory)]
        newest = max(paths, key=os.path.getmtime) if paths else None
        if not newest:
            return ""
        with open(newest, "rb") as f:
            f.seek(max(0, os.path.getsize(newest) - 512))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return ""
    # "<time> scan rows=... 45.0% rate=... eta=..." -> drop the time stamp
    return lines[-1].split(" ", 1)[-1] if lines else ""


def _scan_line(scan):
    """The closing summary's scan line from a published diagnose_scan."""
    timing = scan.get("scan") or {}
    return "%s rows in %s (%s rows/s, %s), %s corrupted" % (
        format(int(scan.get("total_rows") or 0), ","),
        _duration(timing.get("duration_s") or 0),
        format(int(timing.get("rows_per_s") or 0), ","),
        "%s worker%s, %s" % (timing.get("parallel", 1), "" if timing.get("parallel", 1) == 1 else "s", timing.get("mode", "aggregate")),
        format(int(scan.get("corrupted_rows") or 0), ","),
    )


class CallbackModule(DefaultCallback):
    """jsonmend's operator console (a stdout callback)."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "jsonmend_console"

    def __init__(self):
        super().__init__()
        self._started = time.time()
        self._playbook = ""
        self._phase = None  # dict(name, started, failed, changed, ran, message)
        self._changed_tasks = []
        self._failures = []
        self._task_name = ""
        self._task_started = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = None
        self._scans = {}
        self._progress_dir = None

    # --- helpers -----------------------------------------------------------------------------
    @property
    def _verbose(self):
        return self._display.verbosity > 0

    def _say(self, text="", color=None, stderr=False):
        with self._lock:
            self._display.display(text, color=color, stderr=stderr)

    @staticmethod
    def _phase_name(task):
        role = getattr(task, "_role", None)
        if role is None:
            return None
        entry = (getattr(role, "_from_files", None) or {}).get("tasks") or "main"
        entry = str(entry).rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if entry in SETTINGS_ENTRIES:
            return "settings"
        name = role.get_name()
        return name if entry == "main" else "%s %s" % (name, entry)

    def _close_phase(self):
        phase, self._phase = self._phase, None
        if not phase or not phase["ran"]:
            return
        mark, color = ("✗", C.COLOR_ERROR) if phase["failed"] else ("✓", C.COLOR_OK)
        detail = []
        if phase["changed"]:
            detail.append("%d changed" % phase["changed"])
        if phase["failed"]:
            detail.append("failed (above)")
        line = "  %s %-*s %7s%s" % (mark, WIDTH, phase["name"], _duration(time.time() - phase["started"]), ("  " + "; ".join(detail)) if detail else "")
        self._say(line, color=color)

    def _enter(self, task):
        name = self._phase_name(task)
        if name is None:
            # A task of the playbook itself (an include_role starts one): the phase before it ended.
            self._close_phase()
            return
        if self._phase and self._phase["name"] == name:
            return
        self._close_phase()
        self._phase = dict(name=name, started=time.time(), failed=False, changed=0, ran=False, message="")

    def _ran(self, result, changed=False, failed=False, message=""):
        phase = self._phase
        if phase is None or self._phase_name(result.task) != phase["name"]:
            return
        phase["ran"] = True
        if changed:
            phase["changed"] += 1
        if failed:
            phase["failed"] = True
            phase["message"] = phase["message"] or message.splitlines()[0][:120] if message else phase["message"]

    def _heartbeat(self):
        interval = self.get_option("heartbeat") or 0
        beats = {}
        while not self._stop.wait(1.0):
            started, name = self._task_started, self._task_name
            if not interval or started is None:
                continue
            running = time.time() - started
            due = int(running // interval)
            if due and beats.get(started, 0) < due:
                beats = {started: due}
                progress = _last_progress_line(self._progress_dir) if self._progress_dir else ""
                self._say("    … %s: running for %s%s" % (name, _duration(running), (" - " + progress) if progress else ""), color=C.COLOR_SKIP)

    # --- playbook events ------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        self._playbook = str(getattr(playbook, "_file_name", "") or "")
        if self._verbose:
            return super().v2_playbook_on_start(playbook)
        if self.get_option("heartbeat"):
            self._progress_dir = tempfile.mkdtemp(prefix="jsonmend-console-")
            os.environ[PROGRESS_ENV] = self._progress_dir
            self._beat = threading.Thread(target=self._heartbeat, name="jsonmend-console", daemon=True)
            self._beat.start()

    def v2_playbook_on_play_start(self, play):
        if self._verbose:
            return super().v2_playbook_on_play_start(play)
        self._close_phase()
        check = " (check mode: nothing is changed)" if context.CLIARGS.get("check") else ""
        self._say("%s%s" % (play.get_name().strip(), check), color=C.COLOR_HIGHLIGHT)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_name, self._task_started = task.get_name().strip(), time.time()
        if self._progress_dir:
            # A new task: an earlier scan's last line must not show under it.
            for name in os.listdir(self._progress_dir):
                try:
                    os.unlink(os.path.join(self._progress_dir, name))
                except OSError:
                    pass
        if self._verbose:
            return super().v2_playbook_on_task_start(task, is_conditional)
        self._enter(task)

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_include(self, included_file):
        if self._verbose:
            return super().v2_playbook_on_include(included_file)

    def v2_playbook_on_no_hosts_matched(self):
        self._say("No host matched the play's pattern: check the inventory (-i).", color=C.COLOR_WARN)

    def v2_playbook_on_no_hosts_remaining(self):
        if self._verbose:
            return super().v2_playbook_on_no_hosts_remaining()

    # --- task results ---------------------------------------------------------------------------
    def v2_runner_on_ok(self, result):
        if self._verbose:
            return super().v2_runner_on_ok(result)
        self._handle_warnings_and_exception(result)
        changed = bool(result.result.get("changed"))
        scan = (result.result.get("ansible_facts") or {}).get("diagnose_scan")
        if isinstance(scan, dict) and "total_rows" in scan:
            self._scans[result._host.get_name()] = scan
        self._ran(result, changed=changed)
        if changed:
            self._changed_tasks.append(result.task.get_name().strip())
        if result.task.action in DEBUG_ACTIONS and "msg" in result.result:
            for line in _message_lines(result.result["msg"]):
                self._say("    " + line)
        if result.task.action in PAUSE_ACTIONS and result.task.args.get("prompt"):
            # The question in full, with its answer: pause shows it only on a terminal, and the log keeps it.
            answer = result.result.get("user_input")
            shown = (answer if result.result.get("echo", True) else "(hidden)") if answer else "no answer (no terminal)"
            for line in _message_lines(result.task.args["prompt"]):
                self._say("    ? " + line, color=C.COLOR_HIGHLIGHT)
            self._say("      → " + shown)

    def v2_runner_item_on_ok(self, result):
        if self._verbose:
            return super().v2_runner_item_on_ok(result)
        if result.task.action in DEBUG_ACTIONS and "msg" in result.result:
            for line in _message_lines(result.result["msg"]):
                self._say("    " + line)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._verbose:
            return super().v2_runner_on_failed(result, ignore_errors)
        # Warnings yes; the error is the msg printed below (once, without Ansible's origin excerpt).
        self._handle_warnings(result.result)
        msg = str(result.result.get("msg") or "")
        if not msg and result.result.get("results"):
            msg = "; ".join(str(r.get("msg")) for r in result.result["results"] if isinstance(r, dict) and r.get("failed") and r.get("msg"))
        msg = msg or str(result.result.get("stderr") or result.result.get("module_stderr") or "failed")
        if ignore_errors:
            self._ran(result)
            return
        self._ran(result, failed=True, message=msg)
        self._failures.append((result.task.get_name().strip(), msg))
        self._say("    ✗ %s [%s]: %s" % (result.task.get_name().strip(), self.host_label(result), msg), color=C.COLOR_ERROR)

    def v2_runner_item_on_failed(self, result):
        if self._verbose:
            return super().v2_runner_item_on_failed(result)

    def v2_runner_item_on_skipped(self, result):
        if self._verbose:
            return super().v2_runner_item_on_skipped(result)

    def v2_runner_on_skipped(self, result):
        if self._verbose:
            return super().v2_runner_on_skipped(result)

    def v2_runner_on_unreachable(self, result):
        if self._verbose:
            return super().v2_runner_on_unreachable(result)
        msg = str(result.result.get("msg") or "unreachable")
        self._ran(result, failed=True, message=msg)
        self._failures.append((result.task.get_name().strip(), msg))
        self._say("    ✗ %s [%s] UNREACHABLE: %s" % (result.task.get_name().strip(), self.host_label(result), msg), color=C.COLOR_UNREACHABLE)

    def v2_runner_retry(self, result):
        if self._verbose:
            return super().v2_runner_retry(result)
        left = result.result.get("retries", 0) - result.result.get("attempts", 0)
        self._say("    … %s: retrying (%d left)" % (result.task.get_name().strip(), left), color=C.COLOR_SKIP)

    def v2_runner_on_async_poll(self, result):
        if self._verbose:
            return super().v2_runner_on_async_poll(result)

    def v2_on_file_diff(self, result):
        # --diff asked for the differences: show them as the default callback does.
        return super().v2_on_file_diff(result)

    # --- the end ----------------------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        self._stop.set()
        if self._progress_dir:
            shutil.rmtree(self._progress_dir, ignore_errors=True)
        if self._verbose:
            return super().v2_playbook_on_stats(stats)
        self._close_phase()
        custom = (getattr(stats, "custom", None) or {}).get("_run") or {}
        hosts = sorted(stats.processed.keys())
        totals = {h: stats.summarize(h) for h in hosts}
        failed = any(t["failures"] or t["unreachable"] for t in totals.values())
        check = bool(context.CLIARGS.get("check"))
        outcome = custom.get("jsonmend_outcome") or ("failed" if failed else "success")
        actions = custom.get("jsonmend_actions")
        if isinstance(actions, str):
            actions = [actions]
        rule = "─" * 78
        self._say(rule)
        playbook = self._playbook.rsplit("/", 1)[-1] or "playbook"
        self._say(
            "Outcome:  %s%s  (%s, %s)" % (outcome.upper(), " - check mode, nothing changed" if check else "", playbook, _duration(time.time() - self._started)),
            color=C.COLOR_ERROR if failed or outcome in ("failed", "refused", "rolled_back", "rollback_failed") else C.COLOR_OK,
        )
        if self._failures:
            task, msg = self._failures[-1]
            self._say("Stopped:  %s: %s" % (task, " ".join(msg.split())[:600]), color=C.COLOR_ERROR)
        if actions is not None:
            self._say("Changed:  %s" % ("; ".join(str(a) for a in actions) if actions else "nothing"))
        elif check:
            self._say("Changed:  nothing (check mode)")
        else:
            changed = sum(t["changed"] for t in totals.values())
            self._say("Changed:  %s" % ("%d task(s): %s" % (changed, ", ".join(dict.fromkeys(self._changed_tasks))[:300]) if changed else "nothing"))
        if len(self._scans) > 3:
            rows = sum(int(s.get("total_rows") or 0) for s in self._scans.values())
            corrupted = sum(int(s.get("corrupted_rows") or 0) for s in self._scans.values())
            self._say("Scan:     %d targets, %s rows, %s corrupted" % (len(self._scans), format(rows, ","), format(corrupted, ",")))
        else:
            for host, scan in sorted(self._scans.items()):
                self._say("Scan:     %s%s" % ("%s: " % host if len(self._scans) > 1 else "", _scan_line(scan)))
        if custom.get("jsonmend_record"):
            self._say("Record:   %s" % custom["jsonmend_record"])
        if custom.get("jsonmend_next"):
            self._say("Next:     %s" % custom["jsonmend_next"])
        for h in hosts:
            t = totals[h]
            self._say(
                "Hosts:    %s : ok=%d changed=%d unreachable=%d failed=%d skipped=%d rescued=%d ignored=%d"
                % (h, t["ok"], t["changed"], t["unreachable"], t["failures"], t["skipped"], t["rescued"], t["ignored"])
            )
