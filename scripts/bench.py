#!/usr/bin/env python
# The benchmark: seeds tables on a throwaway MariaDB and measures jsonmend against the raw SQL a
# DBA would type, on the same server in the same run: scan, backup + verification, repair, undo,
# a writer's latency during the repair, every module's peak memory, and Ansible's own overhead.
# Prints a table and writes the figures as JSON (docs/PERFORMANCE.md reports them).
#   python scripts/bench.py [--sizes 1000000,10000000] [--repeat 3] [--json FILE]
#   python scripts/bench.py --only scan --rows 2000000   # the scan alone, corruption spread and concentrated
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_backup import bench_backup  # noqa: E402
from bench_decoder import bench_decoder  # noqa: E402
from bench_repair import bench_repair, seed_database  # noqa: E402
from bench_support import ROOT, machine, run_module, wait_until_idle  # noqa: E402

from tools.devstack.mariadb_server import MariaDBServer  # noqa: E402
from tools.devstack.playbooks import db_vars, run_playbook  # noqa: E402

SEED_QUERY = "SELECT JSON_TYPE(metadata), COUNT(*) FROM analytics_activityevent GROUP BY 1"
SCAN_MODES = {
    "aggregate": dict(chunk_size=0),
    "aggregate_serial": dict(chunk_size=0, parallel=1),
    "chunked": dict(chunk_size=10000),
    "chunked_serial": dict(chunk_size=10000, parallel=1),
    # The runbook's judge (the server alone), against the default (the application's decoder).
    "aggregate_server_decoder": dict(chunk_size=0, decoder="server"),
}
# Issue 17's targets, as a ratio to the runbook's query on the same server in the same run.
SCAN_TARGETS = {"aggregate": 1.0, "chunked": 1.15}
# The scan-only run's layouts: the same share of corrupt rows (1 in 200) spread through the table
# or packed into one twentieth of the key range (as after a short-lived bad deploy).
LAYOUTS = {
    "spread": dict(corrupt_span=(0.0, 1.0), corrupt_percent=0.5),
    "concentrated": dict(corrupt_span=(0.45, 0.5), corrupt_percent=10.0),
}


def bench_scan(server, database, repeat, workdir, log=print, modes=None):
    """Scan modes vs the runbook's own query, interleaved so that the machine's noise hits both.

    Each round runs the query, then every mode once; the best of the rounds counts. The 1-minute
    load average is read before each round (the machine is shared: the ratios depend on it).
    """
    modes = modes or SCAN_MODES
    conn = server.admin(database)
    cur = conn.cursor()
    cur.execute(SEED_QUERY)  # warm the buffer pool
    cur.fetchall()
    base = server.login_params(database)
    times = {"seed_query": []}
    best, peak, loads = {}, {}, []
    for round_ in range(repeat):
        log("scan round %d/%d (load %.2f)..." % (round_ + 1, repeat, os.getloadavg()[0]))
        loads.append(os.getloadavg()[0])
        started = time.perf_counter()
        cur.execute(SEED_QUERY)
        cur.fetchall()
        times["seed_query"].append(time.perf_counter() - started)
        for name, extra in modes.items():
            report = run_module("json_type_scan", dict(base, **extra), workdir)
            times.setdefault(name, []).append(report["wall_s"])
            peak[name] = max(peak.get(name, 0), report["peak_rss_kb"])
            if report["wall_s"] == min(times[name]):
                best[name] = report
    conn.close()
    loads.append(os.getloadavg()[0])
    query_s = min(times["seed_query"])
    figures = {"seed_query_s": round(query_s, 3), "load_average": [round(min(loads), 2), round(max(loads), 2)]}
    for name, report in best.items():
        figures["scan_%s_s" % name] = round(report["wall_s"], 3)
        figures["scan_%s_ratio" % name] = round(report["wall_s"] / query_s, 2)
        figures["scan_%s_workers" % name] = report["result"]["scan"]["parallel"]
        figures["scan_%s_peak_rss_mb" % name] = round(peak[name] / 1024, 1)
        figures["corrupted_rows"] = report["result"]["corrupted_rows"]
    return figures


def bench_playbook_overhead(server, database, workdir):
    """End-to-end phase2_diagnose.yml wall time minus the scan's own time: Ansible's overhead."""
    reports = Path(workdir) / "reports"
    extra = dict(jsonmend_report_dir=str(reports), jsonmend_backup=False)
    started = time.perf_counter()
    result = run_playbook("phase2_diagnose.yml", db_vars(server, database, **extra), workdir)
    wall = time.perf_counter() - started
    if result.returncode:
        raise RuntimeError("phase2_diagnose.yml failed: %s" % result.stdout[-2000:])
    latest = json.loads((reports / "diagnosis-latest.json").read_text())
    scan_s = latest["scan"]["duration_s"]
    return {"playbook_wall_s": round(wall, 2), "playbook_scan_s": round(scan_s, 2), "playbook_overhead_s": round(wall - scan_s, 2)}


def flatten(figures):
    """One size's figures as the flat keys the table reads."""
    flat = dict(figures["scan"])
    flat.update(figures["playbook"])
    flat.update(("decoder_" + k, v) for k, v in figures.get("decoder", {}).items())
    b = figures["backup"]
    flat.update(
        plain_dump_gzip_s=b["plain_dump_gzip_s"],
        backup_s=b["backup_s"],
        verify_s=b["verify_s"],
        backup_ratio=b["backup_vs_plain_gzip"],
        backup_and_verify_ratio=b["backup_and_verify_vs_plain_gzip"],
        plain_restore_s=b.get("plain_restore_s"),
        verify_vs_plain_restore=b.get("verify_vs_plain_restore"),
        verify_streams=b.get("verify_streams"),
        verify_one_session_vs_plain_restore=b.get("verify_one_session_vs_plain_restore"),
        backup_and_verify_vs_dump_and_restore=b.get("backup_and_verify_vs_plain_dump_and_restore"),
        writes_paused_ms=b["writes_paused_ms"],
        backup_writer_p99_ms=b["writer_during_backup"]["p99_ms"],
        restore_s=b["restore_s"],
    )
    r = figures["repair"]
    flat.update(
        corrupt_rows=r["corrupt_rows"],
        bare_update_s=r["bare_update"]["seconds"],
        repair_s=r["repair"]["seconds"],
        repair_ratio=r["ratios"]["repair_vs_bare"],
        undo_s=r["undo"]["seconds"],
        undo_ratio=r["ratios"]["undo_vs_repair"],
        undo_identical="yes" if r["undo"]["byte_identical"] else "NO",
        writer_idle="%.1f / %.1f" % (r["writer_idle"]["p50_ms"], r["writer_idle"]["p99_ms"]),
        writer_repair="%.1f / %.1f" % (r["writer_during_repair"]["p50_ms"], r["writer_during_repair"]["p99_ms"]),
        writer_bare="%.1f / %.1f" % (r["writer_during_bare_update"]["p50_ms"], r["writer_during_bare_update"]["p99_ms"])
        if r.get("writer_during_bare_update")
        else None,
    )
    for module, mb in figures["peak_rss_mb"].items():
        flat["rss_" + module] = mb
    return flat


ROWS = [
    ("seeding (s)", "seed_s", "%.0f"),
    ("runbook's GROUP BY query (s)", "seed_query_s", "%.2f"),
    ("scan aggregate (s)", "scan_aggregate_s", "%.2f"),
    ("  vs the query (target <= 1.0)", "scan_aggregate_ratio", "%.2fx"),
    ("  workers", "scan_aggregate_workers", "%d"),
    ("scan aggregate, 1 worker", "scan_aggregate_serial_ratio", "%.2fx"),
    ("scan chunked 10k (s)", "scan_chunked_s", "%.2f"),
    ("  vs the query (target <= 1.15)", "scan_chunked_ratio", "%.2fx"),
    ("scan chunked 10k, 1 worker", "scan_chunked_serial_ratio", "%.2fx"),
    ("scan aggregate, server decoder", "scan_aggregate_server_decoder_ratio", "%.2fx"),
    ("corrupted rows found", "corrupted_rows", "{:,}"),
    ("classify, JSON_VALID only (s)", "decoder_classify_server_s", "%.2f"),
    ("classify + decoder prefilter (s)", "decoder_classify_python_s", "%.2f"),
    ("  vs JSON_VALID only", "decoder_prefilter_vs_server", "%.2fx"),
    ("  rows settled in Python", "decoder_candidates", "{:,}"),
    ("every row decoded in Python (s)", "decoder_python_stream_s", "%.2f"),
    ("  vs JSON_VALID only", "decoder_python_stream_vs_server", "%.2fx"),
    ("phase2_diagnose.yml wall (s)", "playbook_wall_s", "%.2f"),
    ("  Ansible overhead (s)", "playbook_overhead_s", "%.2f"),
    ("plain dump | gzip (s)", "plain_dump_gzip_s", "%.1f"),
    ("backup (s)", "backup_s", "%.1f"),
    ("  vs plain dump", "backup_ratio", "%.2fx"),
    ("  + verification (s)", "verify_s", "%.1f"),
    ("  backup + verify vs plain dump", "backup_and_verify_ratio", "%.2fx"),
    ("plain restore, gunzip | mariadb (s)", "plain_restore_s", "%.1f"),
    ("  verification vs plain restore (<= 0.8)", "verify_vs_plain_restore", "%.2fx"),
    ("    sessions loading", "verify_streams", "%d"),
    ("    one session vs plain restore", "verify_one_session_vs_plain_restore", "%.2fx"),
    ("  backup + verify vs dump + restore (<= 1.15)", "backup_and_verify_vs_dump_and_restore", "%.2fx"),
    ("  writes paused (ms)", "writes_paused_ms", "%.0f"),
    ("  writer p99 during backup (ms)", "backup_writer_p99_ms", "%.1f"),
    ("restore of the table (s)", "restore_s", "%.1f"),
    ("bare UPDATE ... SET NULL (s)", "bare_update_s", "%.2f"),
    ("repair (s)", "repair_s", "%.2f"),
    ("  vs bare UPDATE (target <= 2)", "repair_ratio", "%.2fx"),
    ("undo (s)", "undo_s", "%.2f"),
    ("  vs repair (target <= 2)", "undo_ratio", "%.2fx"),
    ("  byte-identical after undo", "undo_identical", "%s"),
    ("writer p50/p99 idle (ms)", "writer_idle", "%s"),
    ("  during repair (target p99<=50)", "writer_repair", "%s"),
    ("  during bare UPDATE", "writer_bare", "%s"),
    ("peak RSS (MB) json_type_scan", "rss_json_type_scan", "%.1f"),
    ("  json_type_repair repair", "rss_json_type_repair", "%.1f"),
    ("  json_type_repair undo", "rss_json_type_repair_undo", "%.1f"),
    ("  json_type_repair status", "rss_json_type_repair_status", "%.1f"),
    ("  db_backup", "rss_db_backup", "%.1f"),
    ("  db_backup_verify", "rss_db_backup_verify", "%.1f"),
    ("  db_backup_catalog", "rss_db_backup_catalog", "%.1f"),
    ("  db_backup_compare", "rss_db_backup_compare", "%.1f"),
    ("  db_restore", "rss_db_restore", "%.1f"),
]


def render(results):
    sizes = list(results["sizes"])
    flats = {n: flatten(results["sizes"][n]) for n in sizes}
    header = "%-36s" % "rows" + "".join("%16s" % "{:,}".format(int(n)) for n in sizes)
    lines = [header, "-" * len(header)]
    for label, key, fmt in ROWS:
        cells = []
        for n in sizes:
            value = flats[n].get(key)
            if value is None:
                cells.append("%16s" % "-")
            else:
                cells.append("%16s" % (fmt.format(value) if "{" in fmt else fmt % value))
        lines.append("%-36s" % label + "".join(cells))
    return "\n".join(lines)


def bench_size(server, n, args, workdir, log):
    database = "bench_%d" % n
    started = time.perf_counter()
    seed_database(server, database, n, args.corrupt_percent, log)
    figures = {"seed_s": round(time.perf_counter() - started, 1)}
    log("seeded %s rows in %.0fs" % ("{:,}".format(n), figures["seed_s"]))
    figures["settled_after_seeding_s"] = wait_until_idle(server, log)
    figures["scan"] = bench_scan(server, database, args.repeat, workdir, log)
    figures["scan"]["seed_s"] = figures["seed_s"]
    figures["decoder"] = bench_decoder(server, database, args.repeat, log)
    log("phase2_diagnose.yml...")
    figures["playbook"] = bench_playbook_overhead(server, database, workdir)
    figures["backup"] = bench_backup(server, database, workdir, log)
    # The writer's contrast run during a bare UPDATE needs one more copy of the table: once is enough.
    figures["repair"] = bench_repair(server, database, workdir, contrast=n == min(args.sizes), log=log)
    scan_peak = max(v for k, v in figures["scan"].items() if k.endswith("_peak_rss_mb"))
    figures["peak_rss_mb"] = dict(
        json_type_scan=scan_peak,
        json_type_repair=figures["repair"]["repair"]["peak_rss_mb"],
        json_type_repair_undo=figures["repair"]["undo"]["peak_rss_mb"],
        json_type_repair_status=figures["repair"]["status"]["peak_rss_mb"],
        **figures["backup"]["peak_rss_mb"],
    )
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE `%s`" % database)
    return figures


def bench_scan_only(server, n, args, workdir, log):
    """The scan alone at `n` rows, once per corruption layout: {layout: figures}."""
    out = {}
    for layout, seeding in LAYOUTS.items():
        database = "bench_scan_%s" % layout
        started = time.perf_counter()
        seed_database(server, database, n, seeding["corrupt_percent"], log, corrupt_span=seeding["corrupt_span"])
        log("seeded %s rows (%s) in %.0fs" % ("{:,}".format(n), layout, time.perf_counter() - started))
        waited = wait_until_idle(server, log)
        modes = dict((k, v) for k, v in SCAN_MODES.items() if k in args.scan_modes)
        out[layout] = bench_scan(server, database, args.repeat, workdir, log, modes)
        out[layout]["settled_after_seeding_s"] = waited
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE `%s`" % database)
    return out


def render_scan_only(results):
    """One line per size, layout and mode: seconds, ratio, target, met or missed, load."""
    header = "%-10s %-13s %-26s %8s %8s %7s %7s %8s %7s %11s" % ("rows", "layout", "mode", "query s", "scan s", "ratio", "target", "", "workers", "load")
    lines = [header, "-" * len(header)]
    for n, layouts in results["scan_only"].items():
        for layout, f in layouts.items():
            for mode in SCAN_MODES:
                if "scan_%s_s" % mode not in f:
                    continue
                ratio = f["scan_%s_ratio" % mode]
                target = SCAN_TARGETS.get(mode)
                verdict = "" if target is None else ("met" if ratio <= target else "MISSED")
                lines.append(
                    "%-10s %-13s %-26s %8.2f %8.2f %6.2fx %7s %8s %7d %11s"
                    % (
                        "{:,}".format(int(n)),
                        layout,
                        mode,
                        f["seed_query_s"],
                        f["scan_%s_s" % mode],
                        ratio,
                        "" if target is None else "<=%.2f" % target,
                        verdict,
                        f["scan_%s_workers" % mode],
                        "%.1f-%.1f" % tuple(f["load_average"]),
                    )
                )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated row counts")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the scan comparison (best counts)")
    parser.add_argument("--corrupt-percent", type=float, default=1.0)
    parser.add_argument("--buffer-pool", default="4G", help="the throwaway server's innodb_buffer_pool_size")
    parser.add_argument("--json", help="where to write the results (default reports/bench/bench-<time>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the server's directory")
    parser.add_argument("--only", choices=["scan"], help="one phase alone: the scan, with the corruption spread and concentrated")
    parser.add_argument("--rows", help="row counts (same as --sizes)")
    parser.add_argument("--scan-modes", default=",".join(SCAN_MODES), help="with --only scan: the modes to measure")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in (args.rows or args.sizes).split(",") if s]
    args.scan_modes = [m for m in args.scan_modes.split(",") if m]

    def log(message):
        print("[%s] %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="jsonmend-bench-"))
    # Binary log on, as on a production primary: the repair and the bare UPDATE both pay for it.
    server = MariaDBServer(workdir / "mariadb", buffer_pool=args.buffer_pool, binlog=True)
    results = {"started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "machine": machine(), "sizes": {}}
    results["settings"] = dict(repeat=args.repeat, corrupt_percent=args.corrupt_percent, buffer_pool=args.buffer_pool, binlog=True)
    out = Path(args.json) if args.json else ROOT / "reports" / "bench" / ("bench-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
    out.parent.mkdir(parents=True, exist_ok=True)
    server.start()
    began = time.perf_counter()
    try:
        with server.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            results["machine"]["server"] = cur.fetchone()[0]
        results["machine"]["load_average_at_start"] = list(os.getloadavg())
        for n in args.sizes:
            if args.only == "scan":
                results.setdefault("scan_only", {})[str(n)] = bench_scan_only(server, n, args, workdir, log)
                out.write_text(json.dumps(results, indent=2) + "\n")
                log("figures so far:\n" + render_scan_only(results))
                continue
            results["sizes"][str(n)] = bench_size(server, n, args, workdir, log)
            # Written after each size: a long run that dies later still leaves its figures.
            out.write_text(json.dumps(results, indent=2) + "\n")
            log("figures so far:\n" + render(results))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["duration_s"] = round(time.perf_counter() - began)
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    print(render_scan_only(results) if args.only == "scan" else render(results))
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("\nresults written to %s (%d s in all)" % (out, results["duration_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
