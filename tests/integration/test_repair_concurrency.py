# The application keeps writing while the repair and the undo run: writer threads insert rows
# and update existing ones (corrupt values among them) on their own connections. Every value a
# writer writes is unique, so a lost or overwritten write cannot hide; each test shows that
# inserts and updates both happened while the repair (or undo) was running.
import json
import random
import threading
import time

import pytest

from tests.support import repair as r
from tools.devstack.mariadb_server import APP_PASSWORD, APP_USER

pytestmark = pytest.mark.chaos

WRITERS = 3
ROWS = 6000


def corrupt_text(n):
    """A unique corrupt value of a random kind, and what the default policy turns it into."""
    kind = n % 5
    if kind == 0:
        return str(n), None
    if kind == 1:
        return json.dumps("text %d" % n), None
    if kind == 2:
        return json.dumps([n, "x"]), None
    if kind == 3:
        inner = json.dumps({"n": n})
        return json.dumps(inner), inner.encode()
    return "broken %d" % n, None


def seed_rows(cur, rows=ROWS, corrupt_every=9, salt=1):
    """Rows 1..rows, every `corrupt_every`-th corrupt; returns {id: expected bytes after a default repair}."""
    values, expected = [], {}
    for i in range(1, rows + 1):
        if i % corrupt_every == 0:
            text, repaired = corrupt_text(i * 10 + salt)
        else:
            text = json.dumps({"seed": i}) if i % 11 else None
            repaired = None if text is None else text.encode()
        values.append(text)
        expected[i] = repaired
    r.fill(cur, values, check=False)
    return expected


class Writer(threading.Thread):
    """One application connection: updates its own share of the ids and inserts new rows."""

    def __init__(self, mariadb, database, index, ids, corrupt=True):
        super().__init__(daemon=True)
        self.mariadb, self.database, self.index = mariadb, database, index
        self.ids = [i for i in ids if i % WRITERS == index]
        self.corrupt = corrupt
        self.stop = threading.Event()
        self.history = {}  # id -> every value written, in order
        self.log = []  # (monotonic time, "insert" | "update") of every write
        self.errors = []
        self.rng = random.Random(index)

    def value(self, n):
        if self.corrupt and self.rng.random() < 0.4:
            return corrupt_text(n)[0]
        return json.dumps({"app": self.index, "n": n})

    def run(self):
        conn = self.mariadb.connect(self.database, user=APP_USER, password=APP_PASSWORD)
        cur = conn.cursor()
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                value = self.value(self.index * 1_000_000 + n)
                if self.rng.random() < 0.7:
                    kind, pk = "update", self.rng.choice(self.ids)
                    cur.execute("UPDATE analytics_activityevent SET metadata = %s WHERE id = %s", (value, pk))
                else:
                    kind = "insert"
                    cur.execute(
                        "INSERT INTO analytics_activityevent (user_id, event_type, metadata, created_at) VALUES (1, 'app', %s, NOW())",
                        (value,),
                    )
                    pk = cur.lastrowid
                self.history.setdefault(pk, []).append(value)
                self.log.append((time.monotonic(), kind))
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)
        finally:
            conn.close()


def start_writers(mariadb, database, ids, corrupt=True):
    writers = [Writer(mariadb, database, i, ids, corrupt) for i in range(WRITERS)]
    for w in writers:
        w.start()
    return writers


def stop_writers(writers):
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(30)
    assert not [w.errors for w in writers if w.errors], "an application write failed"
    history = {}
    for w in writers:
        for pk, values in w.history.items():
            history.setdefault(pk, []).extend(values)
    assert sum(len(v) for v in history.values()) > 50, "the writers hardly ran"
    return history


def writes_during(writers, started, ended):
    """{"insert": n, "update": n}: the writes made while the repair or undo was running."""
    counts = {"insert": 0, "update": 0}
    for w in writers:
        for at, kind in w.log:
            if started <= at <= ended:
                counts[kind] += 1
    return counts


def timed(call):
    started = time.monotonic()
    result = call()
    return result, started, time.monotonic()


def repaired(text):
    """What the default policy makes of a value the application wrote."""
    if text.startswith("{"):
        return text.encode()
    for n_text in (text,):
        try:
            decoded = json.loads(n_text)
        except ValueError:
            return None
        if isinstance(decoded, str) and decoded.startswith("{"):
            return decoded.encode()
    return None


def test_repair_loses_no_application_write(mariadb, database, admin_cursor, record_figures):
    expected = seed_rows(admin_cursor)
    original = r.column_bytes(admin_cursor)
    writers = start_writers(mariadb, database, list(range(1, ROWS + 1)))
    result, started, ended = timed(lambda: r.execute(mariadb, database, chunk_size=100, chunk_time=0, chunk_sleep=0.005))
    history = stop_writers(writers)
    assert result["status"] == "finished"
    final = r.column_bytes(admin_cursor)
    q = r.quarantine(admin_cursor, result["run_id"])
    lost = []
    for pk, value in final.items():
        if pk in history:
            last = history[pk][-1]
            # The application's last write survives: as written, or repaired with the exact
            # value quarantined (when the walk reached the row after that write).
            if value != last.encode() and (pk not in q or q[pk]["original"] != last.encode() or value != repaired(last)):
                lost.append("row %s: the application wrote %r last, the row holds %r" % (pk, last, value))
        elif pk <= ROWS:
            if value != expected[pk]:
                lost.append("row %s: %r became %r, expected %r" % (pk, original[pk], value, expected[pk]))
            elif expected[pk] != original[pk] and q[pk]["original"] != original[pk]:
                lost.append("row %s: pre-image %r, quarantined %r" % (pk, original[pk], q[pk]["original"]))
    # Every quarantined pre-image is a value that really was in that row.
    for pk, entry in q.items():
        if entry["original"] != original.get(pk) and entry["original"] not in [v.encode() for v in history.get(pk, [])]:
            lost.append("quarantine row %s holds a value the row never had: %r" % (pk, entry["original"]))
    # No insert lost.
    lost += ["inserted row %s is gone" % pk for pk in history if pk not in final]
    during = writes_during(writers, started, ended)
    met = sum(1 for pk in history if pk in q and q[pk]["original"] != original.get(pk))
    record_figures(
        trials=sum(len(v) for v in history.values()),
        failures=len(lost),
        rows_checked=len(final),
        rows_lost=len(lost),
        inserts_during_repair=during["insert"],
        updates_during_repair=during["update"],
        application_values_repaired=met,
    )
    assert not lost, lost[:20]
    # Not vacuous: both kinds of write happened while the repair ran, and the walk met values
    # the application had just written.
    assert during["insert"] > 0 and during["update"] > 0, during
    assert met > 0


def test_undo_loses_no_application_write(mariadb, database, admin_cursor, record_figures):
    seed_rows(admin_cursor, salt=2)
    original = r.column_bytes(admin_cursor)
    run = r.execute(mariadb, database)
    q = r.quarantine(admin_cursor, run["run_id"])
    # Half of the writers' updates hit repaired rows, to race with the undo. The writers never
    # write SQL NULL: after a `null` repair that is the one value undo cannot tell from its own.
    targets = sorted(q)[::2] + list(range(1, ROWS + 1, 7))
    writers = start_writers(mariadb, database, targets)
    undo, started, ended = timed(lambda: r.execute(mariadb, database, mode="undo", chunk_size=20, chunk_time=0, chunk_sleep=0.005))
    history = stop_writers(writers)
    assert undo["status"] == "finished" and undo["restored"] + undo["conflicts"] == len(q)
    final = r.column_bytes(admin_cursor)
    written_repaired = set(history) & set(q)
    lost = ["inserted row %s is gone" % pk for pk in history if pk not in final]
    for pk, value in final.items():
        if pk in history:
            if value != history[pk][-1].encode():
                lost.append("row %s: the application wrote %r last, the row holds %r" % (pk, history[pk][-1], value))
        elif value != original[pk]:
            lost.append("row %s: not put back to %r, holds %r" % (pk, original[pk], value))
    during = writes_during(writers, started, ended)
    record_figures(
        trials=sum(len(v) for v in history.values()),
        failures=len(lost),
        rows_checked=len(final),
        rows_lost=len(lost),
        inserts_during_undo=during["insert"],
        updates_during_undo=during["update"],
        undo_conflicts=undo["conflicts"],
        restored=undo["restored"],
    )
    assert not lost, lost[:20]
    assert undo["conflicts"] <= len(written_repaired)
    assert undo["conflicts"] > 0, "no write raced with the undo"
    assert during["insert"] > 0 and during["update"] > 0, during
