#!/usr/bin/env python3
# Benchmark of the online repair (not a test; scripts/bench.py calls bench_repair() on its tables):
#   repair wall time vs a bare `UPDATE ... SET col = NULL WHERE <not an object>` on an identical
#   copy, undo vs repair, and an application writer's p50/p99 statement latency while the repair
#   runs vs idle (and, for contrast, while the bare UPDATE runs). Each module runs in its own
#   process, so its peak RSS is measured too. Targets from issue 4: repair <= 2x the bare UPDATE,
#   undo <= 2x the repair, writer p99 <= 50 ms.
#     .venv/bin/python scripts/bench_repair.py [--rows 1000000] [--corrupt-percent 1]
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import run_module, with_writer  # noqa: E402
from module_runner import use_local_code  # noqa: E402

TABLE = "analytics_activityevent"
TARGETS = dict(repair_vs_bare=2.0, undo_vs_repair=2.0, writer_p99_ms=50.0)


def corrupt_predicate():
    use_local_code()
    from ansible.module_utils.jsonmend.db.dialects import MariaDB

    return MariaDB().corrupt_predicate("`metadata`")


def seed_database(server, database, rows, corrupt_percent, log=print, corrupt_span=None):
    """A fresh database holding the seeded table (Django's shape, with the CHECK); see seed.seed for the span."""
    from tools.devstack import seed

    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS `%s`" % database)
        cur.execute("CREATE DATABASE `%s`" % database)
        cur.execute("USE `%s`" % database)
        log("seeding %d rows (%.1f%% corrupt)..." % (rows, corrupt_percent))
        seed.create_table(cur, TABLE, check=True)
        seed.seed(cur, rows, corrupt_percent=corrupt_percent, corrupt_span=corrupt_span)
        cur.execute("ANALYZE TABLE `%s`" % TABLE)
        cur.fetchall()


def bench_repair(server, database, workdir, contrast=True, idle_seconds=5.0, log=print):
    """Figures for the repair, undo and status of `database`.`analytics_activityevent`.

    Leaves the table as it found it (the undo is byte-identical; the second repair is undone too).
    `contrast` adds the writer's latency during the bare UPDATE (one more copy of the table).
    """
    conn = server.admin(database)
    cur = conn.cursor()
    cur.execute("SELECT MAX(id) FROM `%s`" % TABLE)
    max_id = cur.fetchone()[0]
    copies = ("bare_idle", "bare_busy") if contrast else ("bare_idle",)
    log("copying the table for the bare UPDATE...")
    cur.execute("SET SESSION check_constraint_checks = 0")
    for copy in copies:
        cur.execute("DROP TABLE IF EXISTS `%s`" % copy)
        cur.execute("CREATE TABLE `%s` LIKE `%s`" % (copy, TABLE))
        cur.execute("INSERT INTO `%s` SELECT * FROM `%s`" % (copy, TABLE))
    cur.execute("SET SESSION check_constraint_checks = 1")
    for table in (TABLE,) + copies:
        cur.execute("SELECT COUNT(*), SUM(LENGTH(metadata)) FROM `%s`" % table)  # warm the buffer pool
        cur.fetchall()
    predicate = corrupt_predicate()
    cur.execute("SELECT COUNT(*) FROM `%s` WHERE %s" % (TABLE, predicate))
    corrupt = cur.fetchone()[0]
    cur.execute("CHECKSUM TABLE `%s`" % TABLE)
    checksum_before = cur.fetchone()[1]
    base = server.login_params(database)

    def bare(table):
        began = time.perf_counter()
        cur.execute("UPDATE `%s` SET metadata = NULL WHERE %s" % (table, predicate))
        return time.perf_counter() - began, cur.rowcount

    try:
        log("bare UPDATE on an identical copy...")
        bare_s, bare_rows = bare("bare_idle")
        log("repair (default policy and knobs)...")
        repair = run_module("json_type_repair", base, workdir)
        log("status...")
        status = run_module("json_type_repair", dict(base, mode="status"), workdir)
        log("undo...")
        undo = run_module("json_type_repair", dict(base, mode="undo"), workdir)
        cur.execute("CHECKSUM TABLE `%s`" % TABLE)
        identical = cur.fetchone()[1] == checksum_before

        log("writer alone for %.0fs..." % idle_seconds)
        _s, _r, idle = with_writer(server, database, TABLE, max_id, lambda: time.sleep(idle_seconds))
        log("writer during a second repair...")
        busy_s, busy, during_repair = with_writer(server, database, TABLE, max_id, lambda: run_module("json_type_repair", base, workdir))
        run_module("json_type_repair", dict(base, mode="undo"), workdir)
        during_bare = None
        if contrast:
            log("writer during the bare UPDATE...")
            busy_bare_s, _r, during_bare = with_writer(server, database, "bare_busy", max_id, lambda: bare("bare_busy"))
            during_bare["update_seconds"] = round(busy_bare_s, 3)
    finally:
        for copy in copies:
            cur.execute("DROP TABLE IF EXISTS `%s`" % copy)
        conn.close()

    repair_s, undo_s = repair["wall_s"], undo["wall_s"]
    figures = dict(
        rows=max_id,
        corrupt_rows=corrupt,
        bare_update=dict(seconds=round(bare_s, 3), rows=bare_rows),
        repair=dict(
            seconds=round(repair_s, 3),
            rows_changed=repair["result"]["rows_changed"],
            chunks=repair["result"]["chunks"],
            final_chunk_size=repair["result"]["chunk_size"]["final"],
            rows_per_s=repair["result"]["rows_per_s"],
            peak_rss_mb=round(repair["peak_rss_kb"] / 1024, 1),
        ),
        undo=dict(
            seconds=round(undo_s, 3),
            restored=undo["result"]["restored"],
            conflicts=undo["result"]["conflicts"],
            byte_identical=identical,
            peak_rss_mb=round(undo["peak_rss_kb"] / 1024, 1),
        ),
        status=dict(seconds=round(status["wall_s"], 3), peak_rss_mb=round(status["peak_rss_kb"] / 1024, 1)),
        writer_idle=idle,
        writer_during_repair=dict(during_repair, repair_seconds=round(busy_s, 3), repair_rows_changed=busy["result"]["rows_changed"]),
        writer_during_bare_update=during_bare,
    )
    figures["ratios"] = dict(repair_vs_bare=round(repair_s / bare_s, 2), undo_vs_repair=round(undo_s / repair_s, 2))
    figures["targets"] = dict(
        repair_vs_bare=figures["ratios"]["repair_vs_bare"] <= TARGETS["repair_vs_bare"],
        undo_vs_repair=figures["ratios"]["undo_vs_repair"] <= TARGETS["undo_vs_repair"],
        writer_p99=during_repair["p99_ms"] <= TARGETS["writer_p99_ms"],
    )
    return figures


def render(figures):
    """The figures as docs/CLEANUP.md shows them."""
    f = figures
    lines = [
        "rows %(rows)d, corrupt %(corrupt_rows)d" % f,
        "bare UPDATE ... SET metadata = NULL WHERE <not an object>   %8.2f s" % f["bare_update"]["seconds"],
        "repair (chunked, quarantined, default knobs)                %8.2f s   %.2fx bare (target <= 2x)   %d chunks"
        % (f["repair"]["seconds"], f["ratios"]["repair_vs_bare"], f["repair"]["chunks"]),
        "undo                                                        %8.2f s   %.2fx repair (target <= 2x)   byte-identical: %s"
        % (f["undo"]["seconds"], f["ratios"]["undo_vs_repair"], f["undo"]["byte_identical"]),
        "writer p50/p99 idle                                         %6.2f/%.2f ms  (%d statements)"
        % (f["writer_idle"]["p50_ms"], f["writer_idle"]["p99_ms"], f["writer_idle"]["statements"]),
        "writer p50/p99 during the repair                            %6.2f/%.2f ms  (%d statements, max %.1f ms; target p99 <= 50 ms)"
        % tuple(f["writer_during_repair"][k] for k in ("p50_ms", "p99_ms", "statements", "max_ms")),
    ]
    bare = f.get("writer_during_bare_update")
    if bare:
        lines.append(
            "writer p50/p99 during the bare UPDATE                       %6.2f/%.2f ms  (%d statements, max %.1f ms)"
            % (bare["p50_ms"], bare["p99_ms"], bare["statements"], bare["max_ms"])
        )
    lines.append("targets met: %s" % ", ".join("%s=%s" % kv for kv in f["targets"].items()))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark json_type_repair against a bare UPDATE on a throwaway MariaDB.")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--corrupt-percent", type=float, default=1.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    from tools.devstack.mariadb_server import MariaDBServer

    def log(message):
        print(message, file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="jsonmend-bench-") as workdir:
        server = MariaDBServer(Path(workdir) / "mariadb", buffer_pool="1G").start()
        try:
            seed_database(server, "bench_repair", args.rows, args.corrupt_percent, log)
            figures = bench_repair(server, "bench_repair", workdir, idle_seconds=args.idle_seconds, log=log)
        finally:
            server.stop()
    print(json.dumps(figures, indent=2) if args.json else render(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
