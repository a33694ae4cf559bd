# Backups bound to their server and to what they prove (issue 13, items 8, 9, 10, 12): a backup
# directory shared by two real servers ("production" = the session's server, "staging" = a second
# throwaway MariaDB with the same database name), retention that keeps the last good backup, a
# restore that holds the table's advisory lock, and catalog names a plain identifier cannot hold.
import json
import shutil
import time
import uuid

import db_backup
import db_backup_catalog
import db_backup_compare
import db_backup_verify
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.db.connection import connect
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support import repair as r
from tools.devstack import seed
from tools.devstack.mariadb_server import MariaDBServer

TABLE = "analytics_activityevent"


def args_for(mariadb, database, backup_dir, **extra):
    args = mariadb.login_params(database)
    args.update(backup_dir=str(backup_dir), table=TABLE)
    args.update(extra)
    return args


def checksum_of(mariadb, database, table=TABLE):
    db = connect(dict(mariadb.login_params(database), dialect="auto"))
    try:
        return table_checksum(db, table)
    finally:
        db.close()


def names(path):
    return sorted(p.name for p in path.iterdir())


@pytest.fixture
def backup_dir(tmp_path):
    path = tmp_path / "backups"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def events(admin_cursor):
    seed.create_table(admin_cursor, check=True)
    seed.seed(admin_cursor, 400, corrupt_percent=5)
    return admin_cursor


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    """A second real server on this host: same machine, another port, so another identity."""
    server = MariaDBServer(tmp_path_factory.mktemp("staging"), binlog=False, buffer_pool="64M")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def staging_backup(staging, database, backup_dir, module_runner, events):
    """A verified backup of staging's copy of the same database name, in the same directory, taken
    after production's: newer, of the same table, with fewer rows."""
    with staging.admin() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE `%s`" % database)
        cur.execute("USE `%s`" % database)
        seed.create_table(cur, check=True)
        seed.seed(cur, 50, corrupt_percent=0)
    yield lambda **extra: module_runner(db_backup, args_for(staging, database, backup_dir, label="staging", **extra))["manifest"]
    if staging.process is not None:
        with staging.admin() as conn, conn.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS `%s`" % database)


def test_a_backup_of_another_server_is_never_restored_or_compared(mariadb, staging, database, events, backup_dir, staging_backup, module_runner):
    """Item 9: the newest backup in the shared directory is staging's; production's `latest` is
    its own, staging's backup named by id is refused with a message naming both servers, and
    nothing changes."""
    ours = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="prod"))["manifest"]
    time.sleep(1.1)
    theirs = staging_backup()
    assert ours["server"]["identity"] == "%s:%d" % (ours["server"]["hostname"], mariadb.port)
    assert theirs["server"]["identity"].endswith(":%d" % staging.port) and theirs["created_at"] >= ours["created_at"]
    before = checksum_of(mariadb, database)

    latest = module_runner(db_restore, args_for(mariadb, database, backup_dir), check_mode=True)
    assert not latest.failed, latest.get("msg")
    assert latest["backup_id"] == ours["id"] and latest["server"] == ours["server"]["identity"]

    named = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=theirs["id"]))
    assert named.failed
    assert "was taken on server %s, but this is server %s" % (theirs["server"]["identity"], ours["server"]["identity"]) in named["msg"]
    compared = module_runner(db_backup_compare, args_for(mariadb, database, backup_dir, backup_id=theirs["id"]))
    assert compared.failed and "was taken on server" in compared["msg"]
    same = module_runner(db_backup_compare, args_for(mariadb, database, backup_dir))
    assert not same.failed and same["backup_id"] == ours["id"] and same["identical"]
    assert checksum_of(mariadb, database) == before
    assert not any(n.startswith("backup_pre_restore_") for n in names(backup_dir))

    # An old manifest without identity: used only when named by id, with a warning.
    path = backup_dir / (ours["id"] + ".manifest.json")
    legacy = json.loads(path.read_text())
    legacy["server"].pop("identity")
    path.write_text(json.dumps(legacy))
    none = module_runner(db_restore, args_for(mariadb, database, backup_dir), check_mode=True)
    assert none.failed and "no verified backup scope table of %s taken on server %s" % (TABLE, ours["server"]["identity"]) in none["msg"]
    explicit = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=ours["id"]), check_mode=True)
    assert not explicit.failed and any("records no server identity" in note for note in explicit["notes"])


def test_retention_keeps_the_last_good_backup_of_each_server(mariadb, database, events, backup_dir, staging_backup, module_runner):
    """Item 8: with keep=1, production's newest backup has lost its dump and staging's backup of
    the same database name is newer still. Retention must keep production's only restorable backup
    (and staging's), and say why it did not count the broken one."""
    good = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="a"))["manifest"]
    broken = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="b"))["manifest"]
    theirs = staging_backup()
    (backup_dir / (broken["id"] + ".sql.gz")).unlink()

    result = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, keep=1))
    assert not result.failed, result.get("msg")
    assert result["removed"] == [] and result["changed"] is False
    assert any(broken["id"] in n and "not counted" in n and "does not exist" in n for n in result["notes"])
    for m in (good, theirs):
        assert (backup_dir / (m["id"] + ".sql.gz")).exists() and (backup_dir / (m["id"] + ".manifest.json")).exists()

    # A dump altered after the backup is not good either (its sha256 is read).
    altered = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="c"))["manifest"]
    dump = backup_dir / (altered["id"] + ".sql.gz")
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    result = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, keep=1))
    assert result["removed"] == [] and any(altered["id"] in n and "does not match its manifest" in n for n in result["notes"])

    # A new good backup of production: now the older ones of production go, staging's stays.
    fresh = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="d"))["manifest"]
    result = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, keep=1, current_id=fresh["id"]))
    assert sorted(result["removed"]) == sorted([good["id"], broken["id"], altered["id"]])
    assert names(backup_dir) == sorted(m["id"] + suffix for m in (fresh, theirs) for suffix in (".digests.gz", ".manifest.json", ".sql.gz"))


def test_latest_never_picks_a_safety_backup(mariadb, database, events, backup_dir, module_runner):
    """Item 12: a newer verified backup_pre_restore_* (what a restore takes of the state it
    replaces) is never the one a `latest` restore or catalog lookup picks."""
    taken = module_runner(db_backup, args_for(mariadb, database, backup_dir))["manifest"]
    time.sleep(1.1)
    safety = module_runner(db_backup, args_for(mariadb, database, backup_dir, label="pre_restore_" + TABLE))["manifest"]
    assert safety["verified"] and safety["id"].startswith("backup_pre_restore_")
    restore = module_runner(db_restore, args_for(mariadb, database, backup_dir), check_mode=True)
    assert not restore.failed and restore["backup_id"] == taken["id"]
    catalog = module_runner(db_backup_catalog, dict(backup_dir=str(backup_dir), database=database, table=TABLE, backup_id="latest"))
    assert catalog["manifest"]["id"] == taken["id"] and catalog["latest_verified"]["id"] == taken["id"]


def test_restore_and_repair_exclude_each_other(mariadb, database, events, backup_dir, tmp_path, module_runner):
    """Item 10: a restore is refused while a repair holds the table's advisory lock; a repair is
    refused while a restore holds it; each refusal changes nothing."""
    taken = module_runner(db_backup, args_for(mariadb, database, backup_dir))["manifest"]
    before = checksum_of(mariadb, database)
    pause = tmp_path / "repair.pause"
    pause.touch()
    progress = tmp_path / "repair.progress"
    holder = r.spawn("json_type_repair", r.module_args(mariadb, database, pause_file=str(pause), progress_file=str(progress), throttle_interval=0.05), tmp_path)
    try:
        deadline = time.time() + 60
        while not (progress.exists() and "pause file" in progress.read_text()):
            assert time.time() < deadline and holder.poll() is None, holder.communicate()[1][-2000:]
            time.sleep(0.05)
        refused = module_runner(db_restore, args_for(mariadb, database, backup_dir, backup_id=taken["id"]))
        assert refused.failed and "another jsonmend run is already working on %s.%s" % (database, TABLE) in refused["msg"], refused["msg"]
        assert checksum_of(mariadb, database) == before and not any(n.startswith("backup_pre_restore_") for n in names(backup_dir))
    finally:
        if pause.exists():
            pause.unlink()
        rc, _result, err = r.finish(holder)
    assert rc == 0, err[-2000:]

    # The other way round: the restore holds the lock while it waits for the table (an
    # application session holds LOCK TABLES ... WRITE), and a repair arriving then is refused.
    blocker = mariadb.admin(database)
    blocker.cursor().execute("LOCK TABLES %s WRITE" % TABLE)
    restore = r.spawn("db_restore", args_for(mariadb, database, backup_dir, backup_id=taken["id"], safety_backup=False), tmp_path, name="restore")
    try:
        lock = "jsonmend:%s.%s" % (database, TABLE)
        deadline = time.time() + 60
        while True:
            with mariadb.admin() as conn, conn.cursor() as cur:
                cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
                if cur.fetchone()[0] is not None:
                    break
            assert time.time() < deadline and restore.poll() is None, restore.communicate()[1][-2000:]
            time.sleep(0.05)
        # (The table cannot be read while the blocker holds it: the refusal comes before any read.)
        with pytest.raises(JsonmendError, match="another jsonmend run is already working on %s.%s" % (database, TABLE)):
            r.execute(mariadb, database)
    finally:
        blocker.cursor().execute("UNLOCK TABLES")
        blocker.close()
    rc, result, err = r.finish(restore)
    assert rc == 0 and result["backup_id"] == taken["id"], err[-2000:]
    # The refused repair changed nothing: the table is exactly the backup, and only the first repair is recorded.
    assert checksum_of(mariadb, database)["checksum"] == taken["checksum"][TABLE]
    events.execute("SELECT COUNT(*) FROM `%s`" % r.RUNS)
    assert events.fetchone()[0] == 1


def test_catalog_names_beyond_plain_identifiers_back_up_verify_and_restore(mariadb, database, events, backup_dir, module_runner):
    """Item 12: a table and a column whose names (read from the server, never typed by the
    operator) hold a hyphen, a backquote or letters beyond ASCII are quoted, not refused."""
    events.execute("CREATE TABLE `événements-2024` (`id` INT PRIMARY KEY, `note-é` VARCHAR(20), `a``b` INT)")
    events.execute("INSERT INTO `événements-2024` VALUES (1, 'ok', 2), (2, NULL, NULL)")
    before = checksum_of(mariadb, database, "événements-2024")
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir, scope="database"))
    assert not m.failed, m.get("msg")
    m = m["manifest"]
    assert m["verified"] and "événements-2024" in m["tables"] and m["rows"]["événements-2024"] == 2
    assert m["columns"]["événements-2024"] == ["id", "note-é", "a`b"]
    events.execute("DELETE FROM `événements-2024` WHERE id = 2")
    compare = module_runner(db_backup_compare, args_for(mariadb, database, backup_dir, scope="database"))
    assert not compare.failed and "événements-2024: 2 rows expected, 1 found" in compare["differences"]
    restored = module_runner(db_restore, args_for(mariadb, database, backup_dir, scope="database"))
    assert not restored.failed, restored.get("msg")
    assert checksum_of(mariadb, database, "événements-2024") == before
    assert restored["after"]["événements-2024"]["ok"]


def fake_client(tmp_path, body):
    real = shutil.which("mariadb") or shutil.which("mysql")
    script = tmp_path / ("fake-client-%s" % uuid.uuid4().hex[:6])
    script.write_text('#!/bin/sh\nif [ "$1" = --version ]; then exec %s --version; fi\n%s\n' % (real, body))
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    ("client", "message"),
    [
        (lambda tmp_path: str(tmp_path / "no-such-client"), "was not found"),
        (lambda tmp_path: fake_client(tmp_path, "cat > /dev/null\necho 'ERROR 1114 (HY000) at line 40: The table `x` is full' >&2\nexit 1"), "is full"),
    ],
    ids=["client missing", "disk full"],
)
def test_an_environmental_failure_keeps_a_good_backup_verified(mariadb, database, events, backup_dir, tmp_path, module_runner, client, message):
    """Item 12: re-verifying a good backup on a machine whose client is missing or whose server
    disk is full is a failed attempt, recorded as such; the backup stays verified. An altered
    file still unverifies it."""
    m = module_runner(db_backup, args_for(mariadb, database, backup_dir))["manifest"]
    args = dict(mariadb.login_params(database), backup_dir=str(backup_dir), backup_id=m["id"], client_binary=client(tmp_path))
    result = module_runner(db_backup_verify, args)
    assert result.failed and message in result["msg"] and "stays verified" in result["msg"], result["msg"]
    after = json.loads((backup_dir / (m["id"] + ".manifest.json")).read_text())
    assert after["verified"] is True and after["verified_at"] == m["verified_at"] and after["verification"] == m["verification"]
    assert after["last_failed_verification"]["backup_defect"] is False and message in after["last_failed_verification"]["error"]
    # The same attempt with the real client succeeds and clears the failed attempt.
    again = module_runner(db_backup_verify, dict(mariadb.login_params(database), backup_dir=str(backup_dir), backup_id=m["id"]))
    assert not again.failed and "last_failed_verification" not in json.loads((backup_dir / (m["id"] + ".manifest.json")).read_text())
    # Evidence against the backup itself still unverifies it.
    dump = backup_dir / (m["id"] + ".sql.gz")
    dump.write_bytes(dump.read_bytes()[:-100])
    bad = module_runner(db_backup_verify, dict(mariadb.login_params(database), backup_dir=str(backup_dir), backup_id=m["id"]))
    assert bad.failed and json.loads((backup_dir / (m["id"] + ".manifest.json")).read_text())["verified"] is False
