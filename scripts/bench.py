#!/usr/bin/env python
# The benchmark: seeds tables on a throwaway MariaDB and measures jsonmend against the raw SQL
# a DBA would type, on the same server in the same run. Prints a table, writes JSON.
#   python scripts/bench.py [--sizes 1000000,10000000] [--repeat 3] [--json FILE]
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import seed  # noqa: E402
from tests.support.mariadb_server import MariaDBServer  # noqa: E402
from tests.support.playbooks import db_vars, run_playbook  # noqa: E402

SEED_QUERY = "SELECT JSON_TYPE(metadata), COUNT(*) FROM analytics_activityevent GROUP BY 1"


def best_of(repeat, fn):
    """Smallest wall time of `repeat` calls (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def run_module(module, args, workdir):
    """Run a module in a fresh process (scripts/module_runner.py): wall time and peak RSS."""
    args_file = Path(workdir) / "args.json"
    args_file.write_text(json.dumps(args))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "module_runner.py"), module, str(args_file)], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError("%s failed: %s %s" % (module, done.stdout[-2000:], done.stderr[-2000:]))
    return json.loads(done.stdout)


def bench_scan(server, database, repeat, workdir):
    """Scan modes vs the runbook's own query; peak memory of the module process."""
    conn = server.admin(database)
    cur = conn.cursor()
    cur.execute(SEED_QUERY)  # warm the buffer pool
    cur.fetchall()

    def seed_query():
        cur.execute(SEED_QUERY)
        cur.fetchall()

    figures = {"seed_query_s": best_of(repeat, seed_query)}
    conn.close()
    base = server.login_params(database)
    modes = {
        "aggregate": dict(chunk_size=0),
        "aggregate_serial": dict(chunk_size=0, parallel=1),
        "chunked": dict(chunk_size=10000),
        "chunked_serial": dict(chunk_size=10000, parallel=1),
    }
    peak = 0
    for name, extra in modes.items():
        runs = []
        for _ in range(repeat):
            report = run_module("json_type_scan", dict(base, **extra), workdir)
            runs.append(report)
            peak = max(peak, report["peak_rss_kb"])
        best = min(runs, key=lambda r: r["wall_s"])
        figures["scan_%s_s" % name] = best["wall_s"]
        figures["scan_%s_ratio" % name] = best["wall_s"] / figures["seed_query_s"]
        figures["scan_%s_workers" % name] = best["result"]["scan"]["parallel"]
        figures["corrupted_rows"] = best["result"]["corrupted_rows"]
    figures["scan_peak_rss_mb"] = peak / 1024.0
    return figures


def bench_playbook_overhead(server, database, workdir):
    """End-to-end phase2_diagnose.yml wall time minus the scan's own time: Ansible's overhead."""
    reports = Path(workdir) / "reports"
    started = time.perf_counter()
    result = run_playbook("phase2_diagnose.yml", db_vars(server, database, jsonmend_report_dir=str(reports)), workdir)
    wall = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError("phase2_diagnose.yml failed: %s" % result.stdout[-2000:])
    latest = json.loads((reports / "diagnosis-latest.json").read_text())
    return {"playbook_wall_s": wall, "playbook_scan_s": latest["scan"]["duration_s"], "playbook_overhead_s": wall - latest["scan"]["duration_s"]}


def machine():
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import ansible

        info["ansible_core"] = ansible.__version__ if hasattr(ansible, "__version__") else ""
        from ansible.release import __version__

        info["ansible_core"] = __version__
    except ImportError:
        pass
    return info


def print_table(results):
    sizes = list(results["sizes"])
    rows = [
        ("runbook query (s)", "seed_query_s", "%.2f"),
        ("scan aggregate (s)", "scan_aggregate_s", "%.2f"),
        ("  ratio (target <= 1.0)", "scan_aggregate_ratio", "%.2fx"),
        ("  workers", "scan_aggregate_workers", "%d"),
        ("scan aggregate, 1 worker (s)", "scan_aggregate_serial_s", "%.2f"),
        ("  ratio", "scan_aggregate_serial_ratio", "%.2fx"),
        ("scan chunked 10k (s)", "scan_chunked_s", "%.2f"),
        ("  ratio (target <= 1.3)", "scan_chunked_ratio", "%.2fx"),
        ("scan chunked 10k, 1 worker (s)", "scan_chunked_serial_s", "%.2f"),
        ("  ratio", "scan_chunked_serial_ratio", "%.2fx"),
        ("scan module peak RSS (MB)", "scan_peak_rss_mb", "%.1f"),
        ("corrupted rows found", "corrupted_rows", "%d"),
        ("seeding (s)", "seed_s", "%.1f"),
        ("phase2_diagnose.yml wall (s)", "playbook_wall_s", "%.2f"),
        ("  Ansible overhead (s)", "playbook_overhead_s", "%.2f"),
    ]
    header = "%-34s" % "rows" + "".join("%16s" % "{:,}".format(int(n)) for n in sizes)
    print(header)
    print("-" * len(header))
    for label, key, fmt in rows:
        cells = []
        for n in sizes:
            value = results["sizes"][n].get(key)
            cells.append("%16s" % (fmt % value if value is not None else "-"))
        print("%-34s" % label + "".join(cells))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--corrupt-percent", type=float, default=1.5, help="of the rows after the first third (1.5 -> ~1%% overall)")
    parser.add_argument("--json", help="where to write the results (default reports/bench/bench-<time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the server's directory")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    workdir = Path(tempfile.mkdtemp(prefix="jsonmend-bench-"))
    server = MariaDBServer(workdir / "mariadb", buffer_pool="4G", binlog=False)
    results = {"started_at": datetime.datetime.now(datetime.UTC).isoformat(), "machine": machine(), "sizes": {}}
    server.start()
    try:
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            results["machine"]["server"] = cur.fetchone()[0]
        for index, n in enumerate(sizes):
            database = "bench_%d" % n
            figures = {}
            with server.admin() as conn, conn.cursor() as cur:
                cur.execute("CREATE DATABASE `%s`" % database)
                cur.execute("USE `%s`" % database)
                seed.create_table(cur)
                started = time.perf_counter()
                seed.seed(cur, n, corrupt_percent=args.corrupt_percent)
                figures["seed_s"] = time.perf_counter() - started
                cur.execute("ANALYZE TABLE analytics_activityevent")
                cur.fetchall()
            print("seeded %s rows in %.1fs; measuring..." % ("{:,}".format(n), figures["seed_s"]), file=sys.stderr)
            figures.update(bench_scan(server, database, args.repeat, workdir))
            if index == 0:
                figures.update(bench_playbook_overhead(server, database, workdir))
            results["sizes"][str(n)] = figures
            with server.admin() as conn, conn.cursor() as cur:
                cur.execute("DROP DATABASE `%s`" % database)
    finally:
        server.stop()
        if not args.keep:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)
    print_table(results)
    out = Path(args.json) if args.json else ROOT / "reports" / "bench" / ("bench-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("\nresults written to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
