# What the application's decoder costs the scan (issue 13, item 14): the server-side prefilter
# against the server's JSON_VALID alone, and against the alternative it avoids, a streamed
# Python pass that decodes every row. Raw statements on one connection, best of `repeat`.
from __future__ import annotations

import json
import time

import pymysql
from module_runner import use_local_code

use_local_code()

from ansible.module_utils.jsonmend.db import appjson  # noqa: E402
from ansible.module_utils.jsonmend.db.dialects import BRACED_INVALID, MariaDB  # noqa: E402

TABLE = "analytics_activityevent"


def _best(repeat, work):
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return best


def bench_decoder(server, database, repeat, log=print):
    """Seconds for the classification GROUP BY with each decoder, and for a Python pass over every row."""
    d = MariaDB()
    conn = server.admin(database)
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
    figures = {}
    for decoder in (appjson.SERVER, appjson.PYTHON):
        sql = "SELECT %s AS cls, COUNT(*) FROM %s GROUP BY cls" % (d.classify_expr("`metadata`", False, BRACED_INVALID, decoder), TABLE)

        def query(statement=sql):
            cur.execute(statement)
            return cur.fetchall()

        log("decoder %s: classification query..." % decoder)
        figures["classify_%s_s" % decoder] = round(_best(repeat, query), 3)
        if decoder == appjson.PYTHON:
            figures["candidates"] = sum(int(n) for cls, n in query() if cls in appjson.CANDIDATES)
    stream = server.admin(database)

    def python_pass():
        # The alternative: every row to Python, decoded as the application would.
        with stream.cursor(pymysql.cursors.SSCursor) as scur:
            scur.execute("SELECT metadata FROM %s" % TABLE)
            for (value,) in scur:
                if value is not None:
                    try:
                        json.loads(value)
                    except ValueError:
                        pass

    log("decoder: streamed Python pass over every row...")
    figures["python_stream_s"] = round(_best(max(1, repeat - 1), python_pass), 3)
    stream.close()
    conn.close()
    base = figures["classify_server_s"]
    figures["prefilter_vs_server"] = round(figures["classify_python_s"] / base, 2) if base else None
    figures["python_stream_vs_server"] = round(figures["python_stream_s"] / base, 2) if base else None
    return figures
