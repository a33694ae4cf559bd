#!/usr/bin/env python3
# Time a jsonmend backup (dump + checksums, then the scratch-restore verification) against a plain
# mariadb-dump of the same table on the same server; measure how long a concurrent writer is held
# up; and time the other backup modules (catalog, compare, restore) with their peak RSS, each in
# its own process. scripts/bench.py calls bench_backup() on its tables.
#   .venv/bin/python scripts/bench_backup.py [--rows 1000000]
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_support import run_module, with_writer  # noqa: E402

TABLE = "analytics_activityevent"


def _find_dump():
    for tool in ("mariadb-dump", "mysqldump"):
        path = shutil.which(tool)
        if path:
            return path
    raise RuntimeError("neither mariadb-dump nor mysqldump is on PATH")


def _timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _rss(report):
    return round(report["peak_rss_kb"] / 1024, 1)


# Issue 17, item 5: the proof at the price of a restore, and a verification faster than one stream.
TARGETS = (
    ("backup + verification vs plain dump + plain restore", "backup_and_verify_vs_plain_dump_and_restore", 1.15),
    ("verification vs plain single-stream restore", "verify_vs_plain_restore", 0.8),
)


def bench_backup(server, database, workdir, log=print):
    """Figures for backup + verification of `database`.`analytics_activityevent` vs a plain dump.

    Also times db_backup_catalog, db_backup_compare and db_restore (table scope, no safety backup:
    the restore itself is measured). Leaves the table's content as it found it.
    """
    workdir = Path(workdir)
    backup_dir = workdir / "backups"
    shutil.rmtree(backup_dir, ignore_errors=True)
    backup_dir.mkdir(mode=0o700)
    base = dict(server.login_params(database), backup_dir=str(backup_dir))
    option_file = workdir / "client.cnf"
    server.write_client_option_file(option_file)
    plain_cmd = [_find_dump(), "--defaults-file=%s" % option_file, "--single-transaction", "--quick", database, TABLE]
    plain_sql = workdir / "plain.sql"
    log("plain dump...")
    with open(plain_sql, "wb") as out:
        plain_s, _ = _timed(lambda: subprocess.run(plain_cmd, stdout=out, check=True))
    sql_bytes = plain_sql.stat().st_size
    plain_sql.unlink()
    gzip_cmd = "set -o pipefail; %s | gzip -1 > %s" % (" ".join(plain_cmd), workdir / "plain.sql.gz")
    plain_gzip_s, _ = _timed(lambda: subprocess.run(["bash", "-c", gzip_cmd], check=True))
    # The verification restores the dump into a scratch schema: its reference is a plain restore.
    scratch = "bench_plain_restore"
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % scratch)
    client = shutil.which("mariadb") or shutil.which("mysql")
    restore_cmd = "set -o pipefail; gunzip -c %s | %s --defaults-file=%s --init-command='SET SESSION check_constraint_checks=0' %s" % (
        workdir / "plain.sql.gz",
        client,
        option_file,
        scratch,
    )
    log("plain restore...")
    plain_restore_s, _ = _timed(lambda: subprocess.run(["bash", "-c", restore_cmd], check=True))
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE `%s`" % scratch)
    (workdir / "plain.sql.gz").unlink()

    with server.admin(database) as conn, conn.cursor() as cur:
        cur.execute("SELECT MAX(id) FROM `%s`" % TABLE)
        max_id = cur.fetchone()[0]
    log("backup (module) while a writer writes...")
    args = dict(base, verify=False, label="bench", compress_level=1, space_factor=1.0, lock_wait_timeout=5)
    _s, backup, writer = with_writer(server, database, TABLE, max_id, lambda: run_module("db_backup", args, workdir))
    manifest = backup["result"]["manifest"]
    log("verification (scratch restore), one session...")
    verify_one = run_module("db_backup_verify", dict(base, backup_id=manifest["id"], verify_skip_binlog=True, load_streams=1), workdir)
    log("verification (scratch restore), default sessions...")
    verify = run_module("db_backup_verify", dict(base, backup_id=manifest["id"], verify_skip_binlog=True), workdir)
    log("catalog, compare, restore...")
    catalog = run_module("db_backup_catalog", dict(backup_dir=str(backup_dir), database=database), workdir)
    compare = run_module("db_backup_compare", dict(base, backup_id=manifest["id"], check_file=True), workdir)
    restore = run_module("db_restore", dict(base, backup_id=manifest["id"], safety_backup=False), workdir)
    shutil.rmtree(backup_dir, ignore_errors=True)
    backup_s, verify_s = backup["wall_s"], verify["wall_s"]
    return dict(
        rows=manifest["rows"][TABLE],
        plain_dump_s=round(plain_s, 2),
        plain_dump_gzip_s=round(plain_gzip_s, 2),
        backup_s=round(backup_s, 2),
        verify_s=round(verify_s, 2),
        backup_and_verify_s=round(backup_s + verify_s, 2),
        backup_vs_plain_gzip=round(backup_s / plain_gzip_s, 2),
        backup_and_verify_vs_plain_gzip=round((backup_s + verify_s) / plain_gzip_s, 2),
        plain_restore_s=round(plain_restore_s, 2),
        verify_vs_plain_restore=round(verify_s / plain_restore_s, 2),
        verify_streams=verify["result"]["manifest"]["verification"].get("streams"),
        verify_one_session_s=round(verify_one["wall_s"], 2),
        verify_one_session_vs_plain_restore=round(verify_one["wall_s"] / plain_restore_s, 2),
        restore_streams=restore["result"].get("streams"),
        backup_and_verify_vs_plain_dump_and_restore=round((backup_s + verify_s) / (plain_gzip_s + plain_restore_s), 2),
        sql_bytes=sql_bytes,
        dump_bytes=manifest["size"],
        writes_paused_ms=manifest["snapshot"]["writes_paused_ms"],
        writer_during_backup=writer,
        verified=verify["result"]["manifest"]["verified"],
        catalog_s=round(catalog["wall_s"], 2),
        compare_s=round(compare["wall_s"], 2),
        compare_identical=compare["result"]["identical"],
        restore_s=round(restore["wall_s"], 2),
        peak_rss_mb=dict(
            db_backup=_rss(backup),
            db_backup_verify=_rss(verify),
            db_backup_catalog=_rss(catalog),
            db_backup_compare=_rss(compare),
            db_restore=_rss(restore),
        ),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    from bench_repair import seed_database

    from tools.devstack.mariadb_server import MariaDBServer

    def log(message):
        print(message, file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="jsonmend-bench-") as workdir:
        server = MariaDBServer(Path(workdir) / "mariadb", buffer_pool="1G").start()
        try:
            seed_database(server, "bench_backup", args.rows, 1.0, log)
            figures = bench_backup(server, "bench_backup", workdir, log)
        finally:
            server.stop()
    print(json.dumps(figures, indent=2))
    for label, key, target in TARGETS:
        value = figures[key]
        print("%-52s %5.2fx  target <= %.2fx  %s" % (label, value, target, "met" if value <= target else "MISSED"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
