#!/usr/bin/env python3
"""PostgreSQL figures of issue 18, same server, same run: the scan against the runbook's query
rewritten for jsonb (SELECT jsonb_typeof(col), count(*) ... GROUP BY 1), interleaved, best of N; the
repair of 1% corrupt rows against a bare UPDATE ... SET col = NULL on an identical copy; the undo
against the repair (byte-identical check of the whole table); an application writer's p99 during the
repair. The throwaway cluster runs with fsync on (as production; the test clusters have it off).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_support import ROOT, Writer, machine, run_module, with_writer  # noqa: E402

from tools.devstack import pg_seed  # noqa: E402
from tools.devstack.postgres_server import APP_PASSWORD, APP_USER, PostgresServer  # noqa: E402

DATABASE = "bench_pg"
TABLE = "analytics_activityevent"
QUERY = "SELECT jsonb_typeof(metadata), count(*) FROM %s GROUP BY 1" % TABLE
BARE = "UPDATE {t} SET metadata = NULL WHERE jsonb_typeof(metadata) <> 'object'"
TARGETS = dict(scan=1.0, repair_vs_bare=2.0, undo_vs_repair=2.0, writer_p99_ms=50.0)
CONTENT = "SELECT md5(string_agg(id || ':' || coalesce(metadata::text, '~') || ':' || user_id || ':' || created_at, ',' ORDER BY id)) FROM %s"


class DurablePostgres(PostgresServer):
    """The throwaway cluster with durable commits and room for the table, as a production server has."""

    def command(self):
        settings = {"fsync=off": "fsync=on", "shared_buffers=128MB": "shared_buffers=1GB"}
        return [settings.get(arg, arg) for arg in super().command()]


class PgWriter(Writer):
    """The application on PostgreSQL: jsonb values, as Django writes them."""

    INSERT = "INSERT INTO {t} (user_id, event_type, metadata, created_at) VALUES (%s, 'quiz_answer_submitted', %s::jsonb, now())"
    UPDATE = "UPDATE {t} SET metadata = %s::jsonb WHERE id = %s"

    def connect(self):
        return self.server.connect(self.database, user=APP_USER, password=APP_PASSWORD)


def with_pg_writer(server, max_id, work):
    return with_writer(server, DATABASE, TABLE, max_id, work, writer_class=PgWriter)


def seed(server, rows, corrupt_percent, log):
    server.create_database(DATABASE)
    with server.connect(DATABASE) as conn:
        log("seeding %s rows (%.1f%% corrupt)..." % (format(rows, ","), corrupt_percent))
        pg_seed.create_table(conn, TABLE)
        pg_seed.seed(conn, rows, corrupt_percent=corrupt_percent, table=TABLE)
        conn.execute("VACUUM ANALYZE %s" % TABLE)  # set hint bits and the visibility map, as a settled table has


def bench_scan(server, base, repeat, workdir, log):
    conn = server.connect(DATABASE)
    conn.execute(QUERY).fetchall()  # warm shared buffers and the OS cache
    times = dict(query=[], scan=[])
    loads, best = [], None
    for round_ in range(repeat):
        loads.append(os.getloadavg()[0])
        log("scan round %d/%d (load %.2f)..." % (round_ + 1, repeat, loads[-1]))
        began = time.perf_counter()
        conn.execute(QUERY).fetchall()
        times["query"].append(time.perf_counter() - began)
        report = run_module("json_type_scan", dict(base), workdir)
        times["scan"].append(report["wall_s"])
        if report["wall_s"] == min(times["scan"]):
            best = report
    conn.close()
    loads.append(os.getloadavg()[0])
    query_s, scan_s = min(times["query"]), min(times["scan"])
    return dict(
        query_s=round(query_s, 3),
        scan_s=round(scan_s, 3),
        ratio=round(scan_s / query_s, 2),
        workers=best["result"]["scan"]["parallel"],
        corrupted_rows=best["result"]["corrupted_rows"],
        peak_rss_mb=round(best["peak_rss_kb"] / 1024, 1),
        load_average=[round(min(loads), 2), round(max(loads), 2)],
    )


def bench_repair(server, base, workdir, log):
    conn = server.connect(DATABASE)
    max_id = conn.execute("SELECT max(id) FROM %s" % TABLE).fetchone()[0]
    log("copying the table for the bare UPDATE...")
    conn.execute("DROP TABLE IF EXISTS bare_copy")
    conn.execute("CREATE TABLE bare_copy (LIKE %s INCLUDING ALL)" % TABLE)
    conn.execute("INSERT INTO bare_copy SELECT * FROM %s" % TABLE)
    conn.execute("VACUUM ANALYZE bare_copy")
    corrupt = conn.execute("SELECT count(*) FROM %s WHERE jsonb_typeof(metadata) <> 'object'" % TABLE).fetchone()[0]
    before = conn.execute(CONTENT % TABLE).fetchone()[0]
    try:
        # Each measured write starts with the copy's pages flushed: a checkpoint falling inside one run
        # (fsync on) and not the other would measure the copy, not the repair.
        conn.execute("CHECKPOINT")
        log("bare UPDATE on the copy...")
        began = time.perf_counter()
        bare_rows = conn.execute(BARE.format(t="bare_copy")).rowcount
        bare_s = time.perf_counter() - began
        conn.execute("CHECKPOINT")
        log("repair (default knobs)...")
        repair = run_module("json_type_repair", dict(base), workdir)
        conn.execute("CHECKPOINT")
        log("undo...")
        undo = run_module("json_type_repair", dict(base, mode="undo"), workdir)
        identical = conn.execute(CONTENT % TABLE).fetchone()[0] == before
        log("writer alone for 5s...")
        _s, _r, idle = with_pg_writer(server, max_id, lambda: time.sleep(5))
        log("writer during a second repair...")
        busy_s, busy, during = with_pg_writer(server, max_id, lambda: run_module("json_type_repair", dict(base), workdir))
        run_module("json_type_repair", dict(base, mode="undo"), workdir)
    finally:
        conn.execute("DROP TABLE IF EXISTS bare_copy")
        conn.close()
    repair_s, undo_s = repair["wall_s"], undo["wall_s"]
    return dict(
        rows=max_id,
        corrupt_rows=corrupt,
        bare_update=dict(seconds=round(bare_s, 3), rows=bare_rows),
        repair=dict(
            seconds=round(repair_s, 3),
            rows_changed=repair["result"]["rows_changed"],
            chunks=repair["result"]["chunks"],
            peak_rss_mb=round(repair["peak_rss_kb"] / 1024, 1),
        ),
        undo=dict(seconds=round(undo_s, 3), restored=undo["result"]["restored"], byte_identical=identical, peak_rss_mb=round(undo["peak_rss_kb"] / 1024, 1)),
        writer_idle=idle,
        writer_during_repair=dict(during, repair_seconds=round(busy_s, 3), repair_rows_changed=busy["result"]["rows_changed"]),
        repair_vs_bare=round(repair_s / bare_s, 2),
        undo_vs_repair=round(undo_s / repair_s, 2),
    )


def verdict(value, target):
    return "met" if value <= target else "MISSED"


def render(f):
    s, r = f["scan"], f["repair"]
    return "\n".join(
        [
            "rows %s, corrupt %s, load average %s-%s during the scan" % (format(r["rows"], ","), format(r["corrupt_rows"], ","), *s["load_average"]),
            "runbook query (jsonb_typeof GROUP BY)     %7.2f s" % s["query_s"],
            "scan (aggregate, %d workers)               %7.2f s   %.2fx the query    target <= %.1fx  %s"
            % (s["workers"], s["scan_s"], s["ratio"], TARGETS["scan"], verdict(s["ratio"], TARGETS["scan"])),
            "bare UPDATE ... SET metadata = NULL       %7.2f s   (%s rows, on an identical copy)"
            % (r["bare_update"]["seconds"], format(r["bare_update"]["rows"], ",")),
            "repair (default knobs)                    %7.2f s   %.2fx the bare UPDATE  target <= %.1fx  %s   (%d chunks)"
            % (
                r["repair"]["seconds"],
                r["repair_vs_bare"],
                TARGETS["repair_vs_bare"],
                verdict(r["repair_vs_bare"], TARGETS["repair_vs_bare"]),
                r["repair"]["chunks"],
            ),
            "undo                                      %7.2f s   %.2fx the repair       target <= %.1fx  %s   byte-identical: %s"
            % (
                r["undo"]["seconds"],
                r["undo_vs_repair"],
                TARGETS["undo_vs_repair"],
                verdict(r["undo_vs_repair"], TARGETS["undo_vs_repair"]),
                r["undo"]["byte_identical"],
            ),
            "writer p50/p99 idle                       %5.2f/%.2f ms (%d statements)"
            % (r["writer_idle"]["p50_ms"], r["writer_idle"]["p99_ms"], r["writer_idle"]["statements"]),
            "writer p50/p99 during the repair          %5.2f/%.2f ms (%d statements, max %.1f ms)  target p99 <= %.0f ms  %s"
            % (
                r["writer_during_repair"]["p50_ms"],
                r["writer_during_repair"]["p99_ms"],
                r["writer_during_repair"]["statements"],
                r["writer_during_repair"]["max_ms"],
                TARGETS["writer_p99_ms"],
                verdict(r["writer_during_repair"]["p99_ms"], TARGETS["writer_p99_ms"]),
            ),
            "peak RSS: scan %.1f MB, repair %.1f MB, undo %.1f MB" % (s["peak_rss_mb"], r["repair"]["peak_rss_mb"], r["undo"]["peak_rss_mb"]),
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--corrupt-percent", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the scan comparison (best counts)")
    parser.add_argument("--json", help="where to write the figures (default reports/bench/pg-<time>.json)")
    args = parser.parse_args(argv)

    def log(message):
        print("[%s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)

    out = Path(args.json) if args.json else ROOT / "reports" / "bench" / ("pg-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jsonmend-bench-pg-") as workdir:
        server = DurablePostgres(Path(workdir) / "postgres").start()
        try:
            figures = dict(started_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), machine=machine())
            figures["machine"]["load_average_at_start"] = list(os.getloadavg())
            with server.admin() as conn:
                figures["machine"]["server"] = conn.execute("SELECT version()").fetchone()[0]
            seed(server, args.rows, args.corrupt_percent, log)
            base = server.login_params(DATABASE)
            figures["scan"] = bench_scan(server, base, args.repeat, workdir, log)
            figures["repair"] = bench_repair(server, base, workdir, log)
        finally:
            server.remove()
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(render(figures))
    print("figures: %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
