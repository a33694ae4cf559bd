# One writing jsonmend run per table: while a repair or an undo holds the table's advisory lock
# (here: paused by its pause file, in a process of its own, as another operator's run would be),
# a second repair, a second undo and playbooks/cleanup.yml are refused at once with a message
# that names the lock and says nothing was changed, and nothing was.
import datetime
import json
import subprocess
import time

import pytest
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support import repair as r
from tools.devstack.playbooks import db_vars, run_playbook

pytestmark = pytest.mark.chaos

REFUSED = "another jsonmend run is already working on %s.analytics_activityevent"


def state(cur):
    """Everything a run could change: the column, the quarantine, the runs table."""
    cur.execute("SHOW TABLES LIKE %s", (r.RUNS,))
    runs = ()
    if cur.fetchall():
        cur.execute("SELECT * FROM `%s` ORDER BY run_id" % r.RUNS)
        runs = cur.fetchall()
    return r.column_bytes(cur), r.quarantine(cur), runs


class Holder:
    """A run in its own process, paused before its first chunk with the lock held."""

    def __init__(self, mariadb, database, tmp_path, **extra):
        name = "holder-%s" % extra.get("mode", "repair")
        self.pause, self.progress = tmp_path / (name + ".pause"), tmp_path / (name + ".progress")
        self.pause.touch()
        args = r.module_args(mariadb, database, pause_file=str(self.pause), progress_file=str(self.progress), throttle_interval=0.05, **extra)
        self.process = r.spawn("json_type_repair", args, tmp_path, name=name)
        wait_for_line(self.progress, "pause file", self.process)

    def finish(self):
        self.pause.unlink()
        rc, result, err = r.finish(self.process)
        assert rc == 0 and result["status"] == "finished", (result, err)
        return result

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def wait_for_line(path, text, process, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text():
            return
        assert process.poll() is None, "the holder ended: %s" % (process.communicate()[1][-2000:])
        time.sleep(0.05)
    raise AssertionError("no %r in %s" % (text, path))


def refused(mariadb, database, **extra):
    """A contender run in-process; returns its error message (it must fail)."""
    with pytest.raises(JsonmendError) as failure:
        r.execute(mariadb, database, **extra)
    return str(failure.value)


@pytest.fixture
def two_runs_of_work(admin_cursor):
    """A table repaired once (run 1), then corrupted again: a repair has work and run 1 can be undone."""
    r.fill(admin_cursor, ["1", '"a"', '{"ok": 1}', "[2]", None] * 40, check=False)
    return admin_cursor


def test_second_run_is_refused_while_a_repair_or_an_undo_holds_the_lock(mariadb, database, two_runs_of_work, tmp_path, record_figures):
    cur = two_runs_of_work
    first = r.execute(mariadb, database)
    cur.execute("UPDATE analytics_activityevent SET metadata = '42' WHERE id % 10 = 3")
    contenders = 0
    holder = Holder(mariadb, database, tmp_path)
    try:
        before = state(cur)
        messages = [
            refused(mariadb, database),
            refused(mariadb, database, mode="undo", run_id=first["run_id"]),
            # A lock timeout shorter than the holder's run: waits, then is refused all the same.
            refused(mariadb, database, lock_timeout=1),
        ]
        contenders += len(messages)
        assert state(cur) == before, "a refused run changed something"
        second = holder.finish()
    finally:
        holder.kill()
    for message in messages:
        assert REFUSED % database in message and "nothing was changed" in message, message
    assert "advisory lock 'jsonmend:%s.analytics_activityevent' is held by connection" % database in messages[0]
    assert second["rows_changed"] == 20

    # The other way round: an undo holds the lock, a repair and another undo are refused.
    holder = Holder(mariadb, database, tmp_path, mode="undo", run_id=second["run_id"])
    try:
        before = state(cur)
        undo_messages = [refused(mariadb, database), refused(mariadb, database, mode="undo", run_id=second["run_id"])]
        contenders += len(undo_messages)
        assert state(cur) == before, "a refused run changed something"
        undone = holder.finish()
    finally:
        holder.kill()
    assert all(REFUSED % database in m and "nothing was changed" in m for m in undo_messages), undo_messages
    assert undone["restored"] == 20
    record_figures(trials=contenders, failures=0, refused=contenders, holders=["repair", "undo"])


def test_cleanup_playbook_is_refused_while_a_repair_holds_the_lock(mariadb, database, admin_cursor, tmp_path, record_figures):
    r.fill(admin_cursor, ["1", '"a"', '{"ok": 1}'] * 20, check=False)
    manifest = tmp_path / "backup.json"
    manifest.write_text(
        json.dumps(
            dict(
                verified=True,
                id="backup-test",
                path=str(tmp_path / "backup-test.sql.gz"),
                manifest_path=str(manifest),
                created_at=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                database=database,
                tables=["analytics_activityevent"],
            )
        )
    )
    variables = db_vars(
        mariadb,
        database,
        cleanup_control_dir=str(tmp_path / "control"),
        jsonmend_report_dir=str(tmp_path / "reports"),
        jsonmend_backup=False,
        jsonmend_confirm="yes",
        cleanup_backup_manifest_file=str(manifest),
    )
    holder = Holder(mariadb, database, tmp_path)
    try:
        before = state(admin_cursor)
        result = run_playbook("cleanup.yml", variables, tmp_path, stdin=subprocess.DEVNULL)
        assert state(admin_cursor) == before, "the refused cleanup changed something"
        held = holder.finish()
    finally:
        holder.kill()
    assert result.returncode != 0, result.stdout[-3000:]
    assert REFUSED % database in result.stdout and "nothing was changed by this run" in result.stdout, result.stdout[-3000:]
    assert held["rows_changed"] == 40
    record_figures(trials=1, failures=0, refused=1, playbook="cleanup.yml")
