#!/usr/bin/env python3
# Benchmark of the write guard (issue 20; not a test): inserts per second and the p50/p99 statement
# latency of an application-like writer with no guard, with observe and with enforce, on the same
# server in the same run. The modes are interleaved round by round (none, observe, enforce, none, ...)
# so the machine's load drifts over all of them alike; the best round of each mode counts.
# Two workloads: autocommit single-row INSERTs (each commits: what a web request does) and
# single-row INSERTs committed 100 at a time (the triggers' own cost, without the commit's fsync).
# Every write is a ~200-byte object: no violation, so observe never writes its log.
# Targets: enforce <= 10% slower, observe <= 20% slower.
#     .venv/bin/python scripts/bench_guard.py [--inserts 4000] [--rounds 3]
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import ROOT, machine, percentile, run_module  # noqa: E402

TABLE = "analytics_activityevent"
DATABASE = "bench_guard"
MODES = ("none", "observe", "enforce")
TARGETS = dict(observe=0.20, enforce=0.10)  # the largest slowdown of inserts/s allowed
WORKLOADS = dict(autocommit=1, batched=100)  # rows per commit


def value(n):
    # The seed's object shape (~200 bytes), so the guard parses what production writes.
    return json.dumps(
        {"question_id": n % 5000, "answer": "option_b", "correct": bool(n % 3), "time_spent_ms": n % 90000, "attempt": 1 + n % 3,
         "session": "%032x" % n, "client": "web", "tags": ["algebra", "practice"]}
    )  # fmt: skip


def round_figures(conn, inserts, per_commit, start):
    """Insert `inserts` rows, committing every `per_commit`; {rows_per_s, p50_ms, p99_ms}."""
    cur = conn.cursor()
    latencies = []
    began = time.perf_counter()
    for i in range(inserts):
        n = start + i
        t0 = time.perf_counter()
        cur.execute(
            "INSERT INTO `%s` (user_id, event_type, metadata, created_at) VALUES (%%s, 'quiz_answer_submitted', %%s, NOW(6))" % TABLE,
            (n % 5000, value(n)),
        )
        if (i + 1) % per_commit == 0:
            conn.commit()
        latencies.append((time.perf_counter() - t0) * 1000)
    conn.commit()
    elapsed = time.perf_counter() - began
    cur.close()
    return dict(rows_per_s=round(inserts / elapsed, 1), p50_ms=round(percentile(latencies, 0.5), 3), p99_ms=round(percentile(latencies, 0.99), 3))


def set_mode(server, mode, workdir):
    args = dict(server.login_params(DATABASE), mode="off" if mode == "none" else mode)
    result = run_module("json_guard", args, workdir)["result"]
    expected = "off" if mode == "none" else mode
    if result["installed"] != expected:
        raise RuntimeError("the guard is %s, not %s" % (result["installed"], expected))


def bench(server, workdir, inserts, rounds, log=print):
    from tools.devstack import seed
    from tools.devstack.mariadb_server import APP_PASSWORD, APP_USER

    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS `%s`" % DATABASE)
        cur.execute("CREATE DATABASE `%s`" % DATABASE)
        cur.execute("USE `%s`" % DATABASE)
        seed.create_table(cur, TABLE, check=True)
        seed.seed(cur, 100000, corrupt_percent=0)
    figures = dict((w, dict((m, []) for m in MODES)) for w in WORKLOADS)
    app = server.connect(DATABASE, user=APP_USER, password=APP_PASSWORD, autocommit=False)
    with app.cursor() as cur:
        cur.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES'")  # as Django sets it
    written = 10_000_000
    try:
        for workload, per_commit in WORKLOADS.items():
            round_figures(app, inserts // 4, per_commit, written)  # warm-up
            written += inserts
            for r in range(rounds):
                for mode in MODES:
                    set_mode(server, mode, workdir)
                    got = round_figures(app, inserts, per_commit, written)
                    written += inserts
                    figures[workload][mode].append(got)
                    line = (workload, r + 1, mode, got["rows_per_s"], got["p50_ms"], got["p99_ms"])
                    log("%-10s round %d  %-8s %8.0f rows/s  p50 %.2f ms  p99 %.2f ms" % line)
        set_mode(server, "none", workdir)
    finally:
        app.close()
    summary = {}
    for workload, by_mode in figures.items():
        best = dict((m, max(rs, key=lambda x: x["rows_per_s"])) for m, rs in by_mode.items())
        base = best["none"]["rows_per_s"]
        summary[workload] = dict((m, dict(best[m], slowdown=round(1 - best[m]["rows_per_s"] / base, 3), rounds=by_mode[m])) for m in MODES)
        for mode, limit in TARGETS.items():
            summary[workload][mode]["target"] = "<= %d%% slower" % round(limit * 100)
            summary[workload][mode]["met"] = summary[workload][mode]["slowdown"] <= limit
    return summary


def table(summary):
    lines = ["%-10s %-8s %10s %9s %9s %9s" % ("workload", "mode", "rows/s", "p50 ms", "p99 ms", "slower"), "-" * 60]
    for workload, by_mode in summary.items():
        for mode, f in by_mode.items():
            slower = "" if mode == "none" else "%5.1f%%%s" % (f["slowdown"] * 100, "" if f["met"] else " (!)")
            lines.append("%-10s %-8s %10.0f %9.2f %9.2f %9s" % (workload, mode, f["rows_per_s"], f["p50_ms"], f["p99_ms"], slower))
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write cost of json_guard (observe, enforce) on a throwaway MariaDB.")
    parser.add_argument("--inserts", type=int, default=4000, help="rows inserted per round and mode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench"))
    args = parser.parse_args(argv)
    from tools.devstack.mariadb_server import MariaDBServer

    with tempfile.TemporaryDirectory(prefix="jsonmend-bench-guard-") as workdir:
        server = MariaDBServer(Path(workdir) / "mariadb").start()
        try:
            summary = bench(server, workdir, args.inserts, args.rounds)
        finally:
            server.stop()
    print(table(summary))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("guard-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    path.write_text(json.dumps(dict(machine=machine(), inserts=args.inserts, rounds=args.rounds, figures=summary), indent=2))
    print("figures: %s" % path)
    return 0 if all(f["met"] for by_mode in summary.values() for m, f in by_mode.items() if m != "none") else 1


if __name__ == "__main__":
    sys.exit(main())
