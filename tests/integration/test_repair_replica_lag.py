# A repair against a primary whose replica lags past max_replica_lag waits, and goes on when
# the lag drops. The replica is real: a second throwaway MariaDB server replicating the test's
# database from the session server's binlog, read through SHOW SLAVE STATUS as in production.
# Its lag is made, not simulated: it applies events MASTER_DELAY=30 seconds late (a
# Seconds_Behind_Master that keeps growing), then its SQL thread stops (NULL: "replication is
# not running"), then the delay is dropped and it catches up.
import threading
import time
import uuid

import pytest

from tests.support import repair as r
from tests.support.replica import MariaDBReplica

pytestmark = pytest.mark.chaos

LIMIT = 2  # max_replica_lag, seconds
DELAY = 30  # MASTER_DELAY while the replica lags: longer than the test needs


@pytest.fixture
def lag_database(mariadb):
    """The test's database on the primary; the replica gets its own copy before it follows."""
    name = "lag_" + uuid.uuid4().hex[:12]
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % name)
    yield name
    with mariadb.admin() as conn, conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS `%s`" % name)


@pytest.fixture
def replica(mariadb, lag_database, tmp_path_factory):
    """A replica that already has the (empty) database, as one cloned from a backup would.

    The repair's lag probe connects to the target database on each replica: without it there
    the run fails ("Unknown database") instead of waiting.
    """
    server = MariaDBReplica(tmp_path_factory.mktemp("replica"), databases="lag\\_%")
    server.start()
    with server.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % lag_database)
    yield server.follow(mariadb, delay=DELAY)
    server.stop()


def text_of(path):
    return path.read_text() if path.exists() else ""


def wait_for(condition, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


def test_repair_waits_while_the_replica_lags_and_goes_on_when_it_catches_up(mariadb, lag_database, replica, tmp_path, record_figures):
    conn = mariadb.admin(lag_database)
    cur = conn.cursor()
    r.fill(cur, ["7", '{"ok": 1}', '"s"', None] * 100, check=False)
    original = r.column_bytes(cur)
    # The replica holds the events back: its lag figure grows past the limit.
    wait_for(lambda: (replica.lag() or 0) > LIMIT, "the replica to lag")
    progress, stop = tmp_path / "progress.log", tmp_path / "stop"
    outcome = {}

    def repair():
        try:
            outcome.update(
                r.execute(
                    mariadb,
                    lag_database,
                    replicas=[dict(name="replica-1", login_host="127.0.0.1", login_port=replica.port)],
                    max_replica_lag=LIMIT,
                    throttle_interval=0.1,
                    chunk_size=50,
                    progress_file=str(progress),
                    stop_file=str(stop),
                )
            )
        except Exception as exc:  # noqa: BLE001 - reported by the test
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=repair, daemon=True)
    worker.start()
    try:
        wait_for(lambda: "throttled: replica replica-1 lags" in text_of(progress) or "error" in outcome, "the lag throttle")
        assert "error" not in outcome, outcome.get("error")
        time.sleep(1)
        lag_seen = replica.lag()
        assert lag_seen > LIMIT and r.column_bytes(cur) == original, "the repair went on while the replica lagged %ss" % lag_seen
        # Replication stops: no lag figure at all, the repair still waits.
        replica.stop_sql_thread()
        wait_for(lambda: "replica-1: replication is not running" in text_of(progress) or "error" in outcome, "the stopped-replication throttle")
        time.sleep(0.5)
        assert replica.lag() is None and r.column_bytes(cur) == original, "the repair went on while replication was stopped"
        waited_at_least = time.monotonic() - started
        # The lag drops: the replica catches up and the repair finishes. Right after START
        # SLAVE, Seconds_Behind_Master reads 0 until the SQL thread meets its backlog, so one
        # chunk may go before the figure shows the catch-up (a heartbeat lag query has no such gap).
        replica.set_delay(0)
    except BaseException:
        stop.touch()  # a failed test must not leave the run waiting for an hour
        raise
    finally:
        worker.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["status"] == "finished" and outcome["rows_changed"] == 200
    assert outcome["throttle_waits"] >= 1 and outcome["throttle_seconds"] >= waited_at_least - 1
    log = progress.read_text()
    assert "throttled: replica replica-1 lags" in log and "> %.1fs" % LIMIT in log
    throttled = [line for line in log.splitlines() if "throttled: replica replica-1" in line]
    reasons = sorted(set("lag over the limit" if " lags " in line else "replication not running" for line in throttled))
    # The repair reached the replica intact once it caught up.
    replica.catch_up(mariadb)
    rconn = replica.admin(lag_database)
    on_replica = r.column_bytes(rconn.cursor())
    rconn.close()
    primary = r.column_bytes(cur)
    conn.close()
    differ = sum(1 for pk in primary if on_replica.get(pk, "missing") != primary[pk])
    record_figures(
        trials=1,
        failures=int(differ > 0),
        rows_checked=len(primary),
        rows_lost=differ,
        lag_limit=LIMIT,
        lag_seen=lag_seen,
        throttle_waits=outcome["throttle_waits"],
        throttle_seconds=outcome["throttle_seconds"],
        throttle_reasons=reasons,
    )
    assert differ == 0, "the replica differs from the primary in %d rows" % differ
