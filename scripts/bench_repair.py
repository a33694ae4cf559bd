#!/usr/bin/env python3
# Benchmark of the online repair (not a test; run by hand or from scripts/bench.py):
#   repair wall time vs a bare `UPDATE ... SET col = NULL WHERE <not an object>` on an identical
#   copy, undo vs repair, and an application writer's p99 statement latency while the repair runs
#   vs idle (and, for contrast, while the bare UPDATE runs). Targets from issue 4: repair <= 2x
#   the bare UPDATE, undo <= 2x the repair, writer p99 <= 50 ms.
#     .venv/bin/python scripts/bench_repair.py [--rows 1000000] [--corrupt-percent 1]
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = "analytics_activityevent"
TARGETS = dict(repair_vs_bare=2.0, undo_vs_repair=2.0, writer_p99_ms=50.0)


def _project_imports():
    """The project's module_utils and library, importable as Ansible sees them."""
    for path in (str(ROOT), str(ROOT / "library")):
        if path not in sys.path:
            sys.path.insert(0, path)
    import ansible.module_utils

    if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(str(ROOT / "module_utils"))


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Writer(threading.Thread):
    """An application connection: single-row INSERTs and UPDATEs by key, autocommit, timed one by one."""

    def __init__(self, server, database, table, max_id, pause=0.002):
        super().__init__(daemon=True)
        self.server, self.database, self.table, self.max_id, self.pause = server, database, table, max_id, pause
        self.stop = threading.Event()
        self.latencies = []
        self.errors = []

    def run(self):
        from tests.support.mariadb_server import APP_PASSWORD, APP_USER

        conn = self.server.connect(self.database, user=APP_USER, password=APP_PASSWORD)
        cur = conn.cursor()
        rng = random.Random(7)
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                value = json.dumps({"writer": n, "answer": "option_b"})
                began = time.perf_counter()
                if n % 2:
                    cur.execute(
                        "INSERT INTO `%s` (user_id, event_type, metadata, created_at) VALUES (%%s, 'quiz_answer_submitted', %%s, NOW(6))" % self.table,
                        (n % 5000, value),
                    )
                else:
                    cur.execute("UPDATE `%s` SET metadata = %%s WHERE id = %%s" % self.table, (value, rng.randint(1, self.max_id)))
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


def with_writer(server, database, table, max_id, work):
    writer = Writer(server, database, table, max_id)
    writer.start()
    time.sleep(0.5)  # the writer's own warm-up
    try:
        began = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - began
    finally:
        writer.stop.set()
        writer.join(30)
    return elapsed, result, writer.figures()


def bench_repair(server=None, rows=1_000_000, corrupt_percent=1.0, idle_seconds=5.0, log=print):
    """Run the benchmark on `server` (a tests.support MariaDBServer; a throwaway one when None)."""
    _project_imports()
    import json_type_repair
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.jsonmend.dialects import MariaDB

    from tests.support import seed
    from tests.support.mariadb_server import MariaDBServer

    own = None
    if server is None:
        own = tempfile.TemporaryDirectory(prefix="jsonmend-bench-")
        server = MariaDBServer(own.name, buffer_pool="1G").start()
    database = "bench_repair"
    try:
        admin = server.admin()
        cur = admin.cursor()
        cur.execute("DROP DATABASE IF EXISTS `%s`" % database)
        cur.execute("CREATE DATABASE `%s`" % database)
        cur.execute("USE `%s`" % database)
        log("seeding %d rows (%.1f%% corrupt)..." % (rows, corrupt_percent))
        seed.create_table(cur, TABLE, check=True)
        seed.seed(cur, rows, corrupt_percent=corrupt_percent)
        copies = ("bare_idle", "bare_busy")
        cur.execute("SET SESSION check_constraint_checks = 0")
        for copy in copies:
            cur.execute("CREATE TABLE `%s` LIKE `%s`" % (copy, TABLE))
            cur.execute("INSERT INTO `%s` SELECT * FROM `%s`" % (copy, TABLE))
        cur.execute("SET SESSION check_constraint_checks = 1")
        for table in (TABLE,) + copies:
            cur.execute("SELECT COUNT(*), SUM(LENGTH(metadata)) FROM `%s`" % table)  # warm the buffer pool
        corrupt_sql = MariaDB().corrupt_predicate("`metadata`")
        cur.execute("SELECT COUNT(*) FROM `%s` WHERE %s" % (TABLE, corrupt_sql))
        corrupt = cur.fetchone()[0]
        cur.execute("CHECKSUM TABLE `%s`" % TABLE)
        checksum_before = cur.fetchone()[1]

        def params(**extra):
            args = server.login_params(database)
            args.update(extra)
            result = ArgumentSpecValidator(json_type_repair.argument_spec()).validate(args)
            assert not result.error_messages, result.error_messages
            return result.validated_parameters

        def bare(table):
            began = time.perf_counter()
            cur.execute("UPDATE `%s` SET metadata = NULL WHERE %s" % (table, corrupt_sql))
            return time.perf_counter() - began, cur.rowcount

        log("bare UPDATE on an identical copy...")
        bare_s, bare_rows = bare("bare_idle")
        log("repair (default policy and knobs)...")
        began = time.perf_counter()
        repair = json_type_repair.execute(params())
        repair_s = time.perf_counter() - began
        log("undo...")
        began = time.perf_counter()
        undo = json_type_repair.execute(params(mode="undo"))
        undo_s = time.perf_counter() - began
        cur.execute("CHECKSUM TABLE `%s`" % TABLE)
        identical = cur.fetchone()[1] == checksum_before

        log("writer alone for %.0fs..." % idle_seconds)
        _s, _r, idle = with_writer(server, database, TABLE, rows, lambda: time.sleep(idle_seconds))
        log("writer during a second repair...")
        busy_repair_s, busy_repair, during_repair = with_writer(server, database, TABLE, rows, lambda: json_type_repair.execute(params()))
        log("writer during the bare UPDATE...")
        busy_bare_s, _r, during_bare = with_writer(server, database, "bare_busy", rows, lambda: bare("bare_busy"))

        figures = dict(
            rows=rows,
            corrupt_rows=corrupt,
            bare_update=dict(seconds=round(bare_s, 3), rows=bare_rows),
            repair=dict(
                seconds=round(repair_s, 3),
                rows_changed=repair["rows_changed"],
                chunks=repair["chunks"],
                final_chunk_size=repair["chunk_size"]["final"],
                rows_per_s=repair["rows_per_s"],
            ),
            undo=dict(seconds=round(undo_s, 3), restored=undo["restored"], conflicts=undo["conflicts"], byte_identical=identical),
            writer_idle=idle,
            writer_during_repair=dict(during_repair, repair_seconds=round(busy_repair_s, 3), repair_rows_changed=busy_repair["rows_changed"]),
            writer_during_bare_update=dict(during_bare, update_seconds=round(busy_bare_s, 3)),
        )
        figures["ratios"] = dict(
            repair_vs_bare=round(repair_s / bare_s, 2),
            undo_vs_repair=round(undo_s / repair_s, 2),
        )
        figures["targets"] = dict(
            repair_vs_bare=figures["ratios"]["repair_vs_bare"] <= TARGETS["repair_vs_bare"],
            undo_vs_repair=figures["ratios"]["undo_vs_repair"] <= TARGETS["undo_vs_repair"],
            writer_p99=during_repair["p99_ms"] <= TARGETS["writer_p99_ms"],
        )
        return figures
    finally:
        try:
            with server.admin() as conn, conn.cursor() as c:
                c.execute("DROP DATABASE IF EXISTS `%s`" % database)
        except Exception:  # noqa: BLE001 - cleanup of a throwaway database
            pass
        if own is not None:
            server.stop()
            own.cleanup()


def render(figures):
    """The figures as the table docs/CLEANUP.md shows."""
    f = figures
    lines = [
        "rows %(rows)d, corrupt %(corrupt_rows)d" % f,
        "bare UPDATE ... SET metadata = NULL WHERE <not an object>   %8.2f s" % f["bare_update"]["seconds"],
        "repair (chunked, quarantined, default knobs)                %8.2f s   %.2fx bare (target <= 2x)   %d chunks"
        % (f["repair"]["seconds"], f["ratios"]["repair_vs_bare"], f["repair"]["chunks"]),
        "undo                                                        %8.2f s   %.2fx repair (target <= 2x)   byte-identical: %s"
        % (f["undo"]["seconds"], f["ratios"]["undo_vs_repair"], f["undo"]["byte_identical"]),
        "writer p99 idle                                             %8.2f ms  (%d statements)" % (f["writer_idle"]["p99_ms"], f["writer_idle"]["statements"]),
        "writer p99 during the repair                                %8.2f ms  (%d statements, max %.1f ms; target <= 50 ms)"
        % (f["writer_during_repair"]["p99_ms"], f["writer_during_repair"]["statements"], f["writer_during_repair"]["max_ms"]),
        "writer p99 during the bare UPDATE                           %8.2f ms  (%d statements, max %.1f ms)"
        % (f["writer_during_bare_update"]["p99_ms"], f["writer_during_bare_update"]["statements"], f["writer_during_bare_update"]["max_ms"]),
        "targets met: %s" % ", ".join("%s=%s" % kv for kv in f["targets"].items()),
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark json_type_repair against a bare UPDATE on a throwaway MariaDB.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--corrupt-percent", type=float, default=1.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = bench_repair(rows=args.rows, corrupt_percent=args.corrupt_percent, idle_seconds=args.idle_seconds, log=lambda m: print(m, file=sys.stderr))
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
