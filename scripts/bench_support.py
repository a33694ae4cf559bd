# What the benchmark scripts share: a module run in its own process (wall time and peak RSS),
# an application-like writer whose statement latencies are timed, percentiles, the machine.
from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_module(module, args, workdir):
    """Run a library/ module in a fresh process as Ansible would: {wall_s, peak_rss_kb, result}.

    A fresh process per run, so peak RSS is that module's own, not the benchmark's.
    """
    args_file = Path(workdir) / ("args-%s.json" % module)
    args_file.write_text(json.dumps(args))
    os.chmod(args_file, 0o600)  # it holds the login password
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "module_runner.py"), module, str(args_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    args_file.unlink()
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError("%s crashed: %s" % (module, done.stderr[-2000:])) from None
    if report["result"].get("failed"):
        raise RuntimeError("%s failed: %s" % (module, report["result"].get("msg")))
    return report


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Writer(threading.Thread):
    """An application connection: single-row INSERTs and UPDATEs by key, autocommit, each timed.

    The statements are MariaDB's; a subclass gives another server's (`connect`, INSERT, UPDATE)."""

    INSERT = "INSERT INTO `{t}` (user_id, event_type, metadata, created_at) VALUES (%s, 'quiz_answer_submitted', %s, NOW(6))"
    UPDATE = "UPDATE `{t}` SET metadata = %s WHERE id = %s"

    def __init__(self, server, database, table, max_id, pause=0.002):
        super().__init__(daemon=True)
        self.server, self.database, self.table, self.max_id, self.pause = server, database, table, max_id, pause
        self.halt = threading.Event()
        self.latencies = []
        self.errors = []

    def connect(self):
        from tools.devstack.mariadb_server import APP_PASSWORD, APP_USER

        return self.server.connect(self.database, user=APP_USER, password=APP_PASSWORD)

    def run(self):
        conn = self.connect()
        cur = conn.cursor()
        rng = random.Random(7)
        n = 0
        insert, update = self.INSERT.format(t=self.table), self.UPDATE.format(t=self.table)
        try:
            while not self.halt.is_set():
                n += 1
                value = json.dumps({"writer": n, "answer": "option_b"})
                began = time.perf_counter()
                if n % 2:
                    cur.execute(insert, (n % 5000, value))
                else:
                    cur.execute(update, (value, rng.randint(1, self.max_id)))
                self.latencies.append(time.perf_counter() - began)
                time.sleep(self.pause)
        except Exception as exc:  # noqa: BLE001 - reported in the figures
            self.errors.append(repr(exc))
        finally:
            conn.close()

    def figures(self):
        ms = [v * 1000 for v in self.latencies]
        return dict(
            statements=len(ms),
            p50_ms=round(percentile(ms, 0.5) or 0, 2),
            p99_ms=round(percentile(ms, 0.99) or 0, 2),
            max_ms=round(max(ms or [0]), 2),
            errors=self.errors,
        )


def with_writer(server, database, table, max_id, work, writer_class=Writer):
    """Run work() while a Writer writes to `table`: (seconds, work's result, the writer's figures)."""
    writer = writer_class(server, database, table, max_id)
    writer.start()
    time.sleep(0.5)  # the writer's own warm-up
    try:
        began = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - began
    finally:
        writer.halt.set()
        writer.join(30)
    return elapsed, result, writer.figures()


def cpu_seconds(pid):
    """CPU time (user + system) a process has used so far, from /proc."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_idle(server, log=print, below=0.1, window=3.0, limit=300.0):
    """Wait until the server uses less than `below` of a core over `window` seconds (at most `limit`).

    Right after seeding millions of rows InnoDB merges secondary-index changes, purges and flushes
    for minutes; measured then, a scan and the query it is compared with share the server with that
    work. Returns the seconds waited.
    """
    began = time.perf_counter()
    pid = server.process.pid
    while time.perf_counter() - began < limit:
        before = cpu_seconds(pid)
        time.sleep(window)
        busy = (cpu_seconds(pid) - before) / window
        if busy < below:
            break
        log("server still busy after seeding (%.0f%% of a core), waiting..." % (100 * busy))
    return round(time.perf_counter() - began, 1)


def machine():
    """What the figures were measured on."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            info["memory_gib"] = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    from ansible.release import __version__

    info["ansible_core"] = __version__
    import pymysql

    info["pymysql"] = pymysql.__version__
    return info
