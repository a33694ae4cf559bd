# Crashes in the middle of a repair: the module's process killed with SIGKILL at random points
# (many trials, different chunks), and the database server itself killed and restarted at
# points spread over the key range. After every kill each row is either untouched or repaired
# with its pre-image quarantined; after the re-run the table equals the expected result, every
# original value is in the quarantine, and rows that were not corrupt are byte-identical.
import json
import os
import random
import signal
import time

import pytest

from tests.support import repair as r
from tools.devstack.mariadb_server import MariaDBServer

pytestmark = pytest.mark.chaos

# The counts; the environment can raise them for a longer soak.
KILL_TRIALS = int(os.environ.get("JSONMEND_CHAOS_MODULE_KILLS", "20"))
SERVER_KILLS = int(os.environ.get("JSONMEND_CHAOS_SERVER_KILLS", "5"))
CHUNK = 40


def wait_for(condition, timeout=60, interval=0.005):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def lines_of(path):
    return path.read_text().splitlines() if path.exists() else []


def corrupt_everywhere(cur, rows=3000, every=6, seed=7):
    """Corrupt rows spread over the whole key range; returns {id: expected bytes after a default repair}."""
    rng = random.Random(seed)
    values, expected = [], {}
    for i in range(1, rows + 1):
        if i % every == 0:
            kind = rng.randrange(5)
            if kind == 0:
                text, want = str(i), None
            elif kind == 1:
                text, want = json.dumps("s%d" % i), None
            elif kind == 2:
                inner = json.dumps({"i": i, "ü": "✓"})
                text, want = json.dumps(inner), inner.encode()
            elif kind == 3:
                text, want = "{broken %d" % i, None
            else:
                text, want = "[%d]" % i, None
        else:
            text = None if i % 13 == 0 else json.dumps({"row": i, "pad": "x" * (i % 50)})
            want = None if text is None else text.encode()
        values.append(text)
        expected[i] = want
    r.fill(cur, values, check=False)
    return expected


def violations(cur, expected, original, crcs_before, run_id=None):
    """What is wrong with the table now, as text (empty when all is well).

    Between kills (run_id None) a row may be untouched or repaired, never anything else, and
    every repaired row has its exact pre-image quarantined. At the end (run_id given) the table
    equals the expected result and the quarantine holds exactly the corrupt rows, of that run.
    """
    problems = []
    now = r.column_bytes(cur)
    q = r.quarantine(cur)
    for pk, before in original.items():
        value = now.get(pk, "missing")
        if value not in (before, expected[pk]) or (run_id and value != expected[pk]):
            problems.append("row %s: %r is neither its original %r nor its repair %r" % (pk, value, before, expected[pk]))
        elif value != before and (pk not in q or q[pk]["original"] != before or q[pk]["new"] != value):
            problems.append("row %s changed without its pre-image in the quarantine: %r" % (pk, q.get(pk)))
    if set(now) != set(original):
        problems.append("rows appeared or vanished: %s" % sorted(set(now) ^ set(original))[:10])
    for pk in set(q) - set(expected):
        problems.append("quarantine row %s is not a row of the table" % pk)
    for pk in q:
        if pk in original and (expected[pk] == original[pk] or now.get(pk) != q[pk]["new"]):
            problems.append("quarantine row %s does not describe the row: %r" % (pk, q[pk]))
    crcs_after = r.row_crcs(cur)
    untouched = [pk for pk in original if pk not in q]
    problems += ["untouched row %s is not byte-identical" % pk for pk in untouched if crcs_after.get(pk) != crcs_before[pk]]
    if run_id:
        corrupt = sorted(pk for pk in original if expected[pk] != original[pk])
        if sorted(q) != corrupt:
            problems.append("the quarantine holds %d rows, the table %d corrupt ones" % (len(q), len(corrupt)))
        if set(e["run_id"] for e in q.values()) != {run_id}:
            problems.append("a resumed run must keep its run id: %s" % sorted(set(e["run_id"] for e in q.values())))
        cur.execute("SELECT status FROM `%s` WHERE run_id = %%s" % r.RUNS, (run_id,))
        status = cur.fetchone()
        if not status or status[0] != "finished":
            problems.append("run %s is %s, not finished" % (run_id, status))
    return problems


def rows_lost(problems):
    """The problems that mean a row's value (or its only pre-image) is gone or wrong."""
    return sum(1 for p in problems if any(word in p for word in ("neither its original", "without its pre-image", "vanished", "byte-identical")))


def run_args(server, database, progress, **extra):
    # lock_timeout: after a kill the server needs a moment to notice the dead connection
    # and release the advisory lock it held.
    args = r.module_args(
        server,
        database,
        chunk_size=CHUNK,
        chunk_time=0,
        chunk_sleep=0.01,
        progress_file=str(progress),
        progress_interval=0,
        lock_timeout=20,
        innodb_lock_wait_timeout=5,
    )
    args.update(extra)
    return args


def checkpoint(cur):
    """The run's recorded checkpoint, or None before the first one."""
    cur.execute("SHOW TABLES LIKE %s", (r.RUNS,))
    if not cur.fetchall():
        return None
    cur.execute("SELECT last_key FROM `%s`" % r.RUNS)
    row = cur.fetchone()
    return row[0] if row else None


def kill_inside_a_transaction(mariadb, database, admin_cursor, args, tmp_path):
    """One kill that surely lands after a chunk's writes and before its COMMIT.

    The test holds the run's row in the runs table, so the chunk blocks at its checkpoint, after
    quarantining and updating its rows. Killed there, the server must roll all of it back.
    """
    before_q, before_rows = len(r.quarantine(admin_cursor)), r.column_bytes(admin_cursor)
    holder = mariadb.admin(database, autocommit=False)
    holder.cursor().execute("SELECT * FROM `%s` FOR UPDATE" % r.RUNS)
    process = r.spawn("json_type_repair", args, tmp_path)
    try:
        wait_for(lambda: _blocked_writer(admin_cursor) or process.poll() is not None, timeout=30, interval=0.25)
        assert process.poll() is None, "the run finished instead of blocking at its checkpoint"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        holder.rollback()
        holder.close()
    assert len(r.quarantine(admin_cursor)) == before_q and r.column_bytes(admin_cursor) == before_rows


def _blocked_writer(cur):
    # INNODB_TRX is a cache MariaDB refreshes only when it was not read for 100 ms: poll slower.
    cur.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT' AND trx_rows_modified > 0")
    return cur.fetchone()[0] > 0


def test_kill_9_of_the_module_at_random_points(mariadb, database, admin_cursor, tmp_path, record_figures):
    # Each trial completes at most 4 chunks: the table outlasts every kill.
    rows = max(3000, KILL_TRIALS * 5 * CHUNK)
    expected = corrupt_everywhere(admin_cursor, rows=rows)
    original = r.column_bytes(admin_cursor)
    crcs = r.row_crcs(admin_cursor)
    progress = tmp_path / "progress.log"
    args = run_args(mariadb, database, progress)
    rng = random.Random(11)
    checkpoints, failed_checks, problems = [], 0, []
    for _trial in range(KILL_TRIALS):
        seen = len(lines_of(progress))
        chunks = rng.randint(1, 4)
        process = r.spawn("json_type_repair", args, tmp_path)
        # The start line, then `chunks` chunk lines; then a random moment inside the next chunk.
        wait_for(lambda s=seen, c=chunks, p=process: len(lines_of(progress)) >= s + 1 + c or p.poll() is not None)
        time.sleep(rng.uniform(0, 0.02))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        assert process.returncode == -signal.SIGKILL, "the run ended before it was killed: make the table bigger"
        checkpoints.append(checkpoint(admin_cursor))
        found = violations(admin_cursor, expected, original, crcs)
        failed_checks += bool(found)
        problems += found
    assert len(set(checkpoints)) >= KILL_TRIALS // 2, "kills did not land in different chunks: %s" % checkpoints
    kill_inside_a_transaction(mariadb, database, admin_cursor, args, tmp_path)
    rc, result, err = r.finish(r.spawn("json_type_repair", args, tmp_path))
    assert rc == 0, (result, err)
    assert result["status"] == "finished" and result["resumed"] is True
    final = violations(admin_cursor, expected, original, crcs, result["run_id"])
    record_figures(
        trials=KILL_TRIALS + 1,  # the random kills and the one inside a transaction
        failures=failed_checks + bool(final),
        rows_checked=len(original) * (KILL_TRIALS + 1),
        rows_lost=rows_lost(problems + final),
        rows=len(original),
        corrupt_rows=sum(1 for pk in original if expected[pk] != original[pk]),
        distinct_checkpoints=len(set(checkpoints)),
    )
    assert not problems + final, (problems + final)[:20]


@pytest.fixture
def crash_server(tmp_path_factory):
    """A server of this test's own: killing it disturbs no other test."""
    server = MariaDBServer(tmp_path_factory.mktemp("crash-db"), buffer_pool="64M")
    server.start()
    yield server
    server.stop()


def test_database_killed_and_restarted_mid_repair(crash_server, tmp_path, record_figures):
    # The kills land after chunk 6, 12, 18, ... of 6 * (SERVER_KILLS + 1): spread over the
    # key range, with the last stretch left for the final run.
    total_chunks = 6 * (SERVER_KILLS + 1)
    points = [6 * (k + 1) for k in range(SERVER_KILLS)]
    admin = crash_server.admin()
    admin.cursor().execute("CREATE DATABASE crash")
    admin.close()
    conn = crash_server.admin("crash")
    cur = conn.cursor()
    expected = corrupt_everywhere(cur, rows=total_chunks * CHUNK)
    original, crcs = r.column_bytes(cur), r.row_crcs(cur)
    conn.close()
    progress = tmp_path / "progress.log"
    args = run_args(crash_server, "crash", progress)
    landed, failed_checks, problems = [], 0, []
    done = 0  # chunks committed before this run (from the recorded checkpoint)
    for point in points:
        seen = len(lines_of(progress))
        chunks = max(1, point - done)
        process = r.spawn("json_type_repair", args, tmp_path)
        wait_for(lambda s=seen, c=chunks, p=process: len(lines_of(progress)) >= s + 1 + c or p.poll() is not None)
        crash_server.kill()
        rc, result, _err = r.finish(process)
        assert rc != 0 and result["failed"], "the run ended before the server was killed: %s" % result
        assert "run again to resume" in result["msg"], result["msg"]
        assert "Lost connection" in result["msg"] or "server has gone away" in result["msg"], result["msg"]
        crash_server.start()
        conn = crash_server.admin("crash")
        last_key = checkpoint(conn.cursor())
        landed.append(int(last_key) if last_key is not None else 0)
        done = landed[-1] // CHUNK
        found = violations(conn.cursor(), expected, original, crcs)
        conn.close()
        failed_checks += bool(found)
        problems += found
    rc, result, err = r.finish(r.spawn("json_type_repair", args, tmp_path))
    assert rc == 0, (result, err)
    assert result["status"] == "finished" and result["resumed"] is True
    conn = crash_server.admin("crash")
    final = violations(conn.cursor(), expected, original, crcs, result["run_id"])
    conn.close()
    record_figures(
        trials=SERVER_KILLS,
        failures=failed_checks + bool(final),
        rows_checked=len(original) * (SERVER_KILLS + 1),
        rows_lost=rows_lost(problems + final),
        rows=len(original),
        checkpoints_after_kills=landed,
    )
    assert landed == sorted(landed) and len(set(landed)) == SERVER_KILLS, "kills did not advance through the key range: %s" % landed
    assert not problems + final, (problems + final)[:20]


def test_undo_killed_and_stopped_then_resumed_is_byte_identical(mariadb, database, admin_cursor, tmp_path, record_figures):
    corrupt_everywhere(admin_cursor, rows=3000, every=3)
    before, original = r.checksum(admin_cursor), r.column_bytes(admin_cursor)
    progress = tmp_path / "progress.log"
    args = run_args(mariadb, database, progress)
    rc, repaired, err = r.finish(r.spawn("json_type_repair", args, tmp_path))
    assert rc == 0 and repaired["rows_changed"] == 1000, err
    undo_args = dict(args, mode="undo", chunk_size=25)
    for chunks in (2, 5, 3):
        seen = len(lines_of(progress))
        process = r.spawn("json_type_repair", undo_args, tmp_path)
        wait_for(lambda s=seen, c=chunks, p=process: len(lines_of(progress)) >= s + 1 + c or p.poll() is not None)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        assert process.returncode == -signal.SIGKILL
    # Then the stop file, then the end.
    stop = tmp_path / "stop"
    seen = len(lines_of(progress))
    process = r.spawn("json_type_repair", dict(undo_args, stop_file=str(stop)), tmp_path)
    wait_for(lambda: len(lines_of(progress)) >= seen + 3)
    stop.touch()
    rc, stopped, err = r.finish(process)
    assert rc == 0 and stopped["status"] == "stopped" and stopped["resumed"] is True, err
    stop.unlink()
    rc, done, err = r.finish(r.spawn("json_type_repair", undo_args, tmp_path))
    assert rc == 0 and done["status"] == "finished" and done["conflicts"] == 0, err
    assert done["restored"] == 1000 and done["run_id"] == stopped["run_id"]
    final = r.column_bytes(admin_cursor)
    lost = sum(1 for pk in original if final.get(pk, "missing") != original[pk])
    record_figures(trials=4, failures=int(lost > 0), rows_checked=len(original), rows_lost=lost, undo_kills=3, stop_files=1)
    assert r.checksum(admin_cursor) == before
    assert all(e["undone"] for e in r.quarantine(admin_cursor).values())
