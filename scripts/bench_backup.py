#!/usr/bin/env python3
# Time a jsonmend backup (dump + checksums, then the scratch-restore verification) of N rows
# against a plain mariadb-dump of the same table on the same server, and measure how long a
# concurrent writer is held up by the snapshot alignment. scripts/bench.py can call bench_backup().
#   .venv/bin/python scripts/bench_backup.py [--rows 1000000] [--base DIR]
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ansible.module_utils  # noqa: E402

if str(ROOT / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(ROOT / "module_utils"))

from ansible.module_utils.jsonmend import backups, clitools, verification  # noqa: E402

from tests.support import seed  # noqa: E402
from tests.support.mariadb_server import MariaDBServer  # noqa: E402

TABLE = "analytics_activityevent"
DATABASE = "bench_backup"


def _timed(fn):
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value


def _percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class Writer:
    """One application-like writer: single-row INSERTs in a loop, each latency recorded."""

    def __init__(self, server, database):
        self.server = server
        self.database = database
        self.latencies = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        conn = self.server.connect(self.database)
        cur = conn.cursor()
        while not self.stop.is_set():
            started = time.monotonic()
            cur.execute("INSERT INTO %s (user_id, event_type, metadata, created_at) VALUES (1, 'login', '{}', NOW())" % TABLE)
            self.latencies.append(time.monotonic() - started)
            time.sleep(0.001)
        conn.close()

    def __enter__(self):
        self.thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False


def bench_backup(server=None, rows=1_000_000, workdir=None, seed_rows=True):
    """Figures for backup + verification of `rows` rows vs a plain mariadb-dump of the table.

    `server` is a started tests.support MariaDBServer (one is started and stopped otherwise).
    Returns a dict of seconds, bytes, ratios and the writer's stalls in milliseconds.
    """
    own = server is None
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="jsonmend-bench-backup-"))
    if own:
        server = MariaDBServer(workdir / "mariadb").start()
    try:
        if seed_rows:
            with server.admin() as conn, conn.cursor() as cur:
                cur.execute("DROP DATABASE IF EXISTS %s" % DATABASE)
                cur.execute("CREATE DATABASE %s" % DATABASE)
                cur.execute("USE %s" % DATABASE)
                seed.create_table(cur, check=True)
                seed.seed(cur, rows, corrupt_percent=1.0, invalid=True)
                cur.execute("ANALYZE TABLE %s" % TABLE)
        backup_dir = workdir / "backups"
        shutil.rmtree(backup_dir, ignore_errors=True)
        backup_dir.mkdir(mode=0o700)
        params = dict(
            server.login_params(DATABASE),
            dialect="auto",
            table=TABLE,
            primary_key="id",
            backup_dir=str(backup_dir),
            scope="table",
            label="bench",
            verify=False,
            verify_skip_binlog=True,
            compress_level=1,
            space_factor=1.0,
            lock_wait_timeout=5,
        )
        option_file = workdir / "client.cnf"
        server.write_client_option_file(option_file)
        dump = clitools.find_tool(("mariadb-dump", "mysqldump"))
        plain_cmd = [dump, "--defaults-file=%s" % option_file, "--single-transaction", "--quick", DATABASE, TABLE]
        plain_sql = workdir / "plain.sql"
        plain_s, _ = _timed(lambda: subprocess.run(plain_cmd, stdout=open(plain_sql, "wb"), check=True))
        gzip_cmd = "set -o pipefail; %s | gzip -1 > %s" % (" ".join(plain_cmd), workdir / "plain.sql.gz")
        plain_gzip_s, _ = _timed(lambda: subprocess.run(["bash", "-c", gzip_cmd], check=True))

        with Writer(server, DATABASE) as writer:
            idle = list(writer.latencies)
            backup_s, (manifest, _plan) = _timed(lambda: backups.take_backup(params))
            during = writer.latencies[len(idle) :]
        verify_s, manifest = _timed(lambda: verification.verify_backup(params, manifest))
        return dict(
            rows=manifest["rows"][TABLE],
            plain_dump_s=round(plain_s, 2),
            plain_dump_gzip_s=round(plain_gzip_s, 2),
            backup_s=round(backup_s, 2),
            verify_s=round(verify_s, 2),
            backup_and_verify_s=round(backup_s + verify_s, 2),
            backup_vs_plain_gzip=round(backup_s / plain_gzip_s, 2),
            backup_and_verify_vs_plain_gzip=round((backup_s + verify_s) / plain_gzip_s, 2),
            sql_bytes=plain_sql.stat().st_size,
            dump_bytes=manifest["size"],
            writes_paused_ms=manifest["snapshot"]["writes_paused_ms"],
            writer_inserts_during_backup=len(during),
            writer_max_stall_ms=round(max(during) * 1000, 1) if during else None,
            writer_p99_ms=round(_percentile(during, 0.99) * 1000, 1) if during else None,
            verified=manifest["verified"],
            cpus=os.cpu_count(),
        )
    finally:
        if own:
            server.stop()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--base", help="directory for a throwaway server (default: a temp dir, removed after)")
    args = parser.parse_args(argv)
    figures = bench_backup(rows=args.rows, workdir=args.base)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
