# Throttling between chunks, as gh-ost does: wait while the operator's pause file exists,
# while the primary is busy (Threads_running) or while a replica lags behind.
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

# Login options a replica entry may set; the rest are inherited from the primary's.
REPLICA_OPTIONS = ("login_host", "login_port", "login_user", "login_password", "login_unix_socket")


class ReplicaProbe:
    """Measures one replica's lag (the dialect's: SHOW REPLICA STATUS, pg_stat_replication or
    pg_last_xact_replay_timestamp()), or the operator's own lag query.

    A lag query (gh-ost's --replication-lag-query) reads a heartbeat table, e.g.
    pt-heartbeat's, and returns seconds; it is also how tests simulate a lagging replica.
    """

    def __init__(self, name: str, params: Mapping[str, Any], lag_query: str | None = None) -> None:
        self.name = name
        self.params = params
        self.lag_query = lag_query
        self.db = None

    def _db(self):
        if self.db is None:
            try:
                self.db = connect(self.params, autocommit=True)
            except JsonmendError as exc:
                raise JsonmendError("replica %s: %s" % (self.name, exc)) from None
        return self.db

    def lag(self) -> float | None:
        """Seconds behind the primary, or None when replication is not running."""
        db = self._db()
        try:
            if self.lag_query:
                row = db.query_one(self.lag_query)
                return None if row is None or row[0] is None else float(row[0])
            return db.dialect.replica_lag(db, self.name)
        except driver_error_types() as exc:
            raise JsonmendError("could not read the lag of replica %s: %s" % (self.name, driver_message(exc))) from None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def replica_probes(primary_params: Mapping[str, Any], replicas: Iterable[Mapping[str, Any]] | None, lag_query: str | None = None) -> list[ReplicaProbe]:
    """One probe per replica entry; unset login options come from the primary's."""
    probes = []
    for index, entry in enumerate(replicas or ()):
        params = dict(primary_params)
        for key in REPLICA_OPTIONS:
            if entry.get(key) not in (None, ""):
                params[key] = entry[key]
        if entry.get("login_unix_socket"):
            params["login_host"] = None
        name = entry.get("name") or params.get("login_unix_socket") or "%s:%s" % (params.get("login_host") or "localhost", params.get("login_port") or 3306)
        probes.append(ReplicaProbe(name or "replica %d" % (index + 1), params, lag_query))
    return probes


class Throttle:
    """Decides whether the next chunk may run, and waits until it may."""

    def __init__(
        self,
        db: Database,
        max_threads_running: int = 0,
        max_replica_lag: float = 0,
        probes: Iterable[ReplicaProbe] = (),
        pause_file: str | None = None,
        interval: float = 1.0,
        max_wait: float = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.max_threads_running = max_threads_running
        self.max_replica_lag = max_replica_lag
        self.probes = list(probes)
        self.pause_file = pause_file
        self.interval = interval
        self.max_wait = max_wait
        self.sleep = sleep
        self.waits = 0
        self.seconds = 0.0
        self.last_reason = None

    def threads_running(self) -> int:
        return self.db.dialect.busy_sessions(self.db)

    def reason(self) -> str | None:
        """Why the next chunk must wait, or None."""
        if self.pause_file and os.path.exists(self.pause_file):
            return "pause file %s exists" % self.pause_file
        if self.max_threads_running:
            running = self.threads_running()
            if running > self.max_threads_running:
                return "Threads_running=%d > %d" % (running, self.max_threads_running)
        if self.max_replica_lag:
            for probe in self.probes:
                lag = probe.lag()
                if lag is None:
                    return "replica %s: replication is not running" % probe.name
                if lag > self.max_replica_lag:
                    return "replica %s lags %.1fs > %.1fs" % (probe.name, lag, self.max_replica_lag)
        return None

    def wait(self, should_stop: Callable[[], bool] = lambda: False, on_wait: Callable[[str, float], None] = lambda reason, waited: None) -> bool:
        """Block while reason() says so; return False when should_stop() asks to stop instead."""
        reason = self.reason()
        if reason is None:
            return True
        self.waits += 1
        started = time.monotonic()
        last_report = reported = None
        while reason is not None:
            self.last_reason = reason
            if should_stop():
                self.seconds += time.monotonic() - started
                return False
            waited = time.monotonic() - started
            if self.max_wait and waited > self.max_wait:
                self.seconds += waited
                raise JsonmendError("throttled for %.0fs (max_throttle_time): %s" % (waited, reason))
            if last_report is None or reason != reported or waited - last_report >= max(self.interval, 5.0):
                on_wait(reason, waited)
                last_report, reported = waited, reason
            self.sleep(self.interval)
            reason = self.reason()
        self.seconds += time.monotonic() - started
        return True

    def close(self) -> None:
        for probe in self.probes:
            probe.close()
