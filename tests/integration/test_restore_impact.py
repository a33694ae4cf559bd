# What a restore would change, counted from content (db_backup_compare impact=true) on the real
# server: rows inserted (with old, future or NULL timestamps), changed and deleted since the
# backup, found through the backup's key ranges and per-row digests; integer, text and binary
# keys; a table emptied, dropped or never keyed; a manifest without ranges or with an altered
# digest file says which counts are unknown instead of printing a number.
import gzip
import json

import db_backup
import db_backup_compare
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup import ranges

from tools.devstack import seed

# Backups, restores, retention and records carry times: make clock runs these under faketime.
pytestmark = pytest.mark.clock

TABLE = "analytics_activityevent"


def args_for(mariadb, database, backup_dir, **extra):
    args = mariadb.login_params(database)
    args.update(backup_dir=str(backup_dir), table=TABLE)
    args.update(extra)
    return args


@pytest.fixture
def backups(tmp_path):
    path = tmp_path / "backups"
    path.mkdir(mode=0o700)
    return path


def backup(module_runner, mariadb, database, backups, **extra):
    result = module_runner(db_backup, args_for(mariadb, database, backups, **extra))
    assert not result.failed, result.get("msg")
    return result["manifest"]


def impact(module_runner, mariadb, database, backups, **extra):
    result = module_runner(db_backup_compare, args_for(mariadb, database, backups, impact=True, **extra))
    assert not result.failed, result.get("msg")
    return result["impact"]


def test_counts_inserted_changed_and_deleted_rows_whatever_their_timestamps(mariadb, database, admin_cursor, backups, module_runner):
    seed.create_table(admin_cursor, check=False)
    # The application may store no timestamp at all: the count must not depend on one.
    admin_cursor.execute("ALTER TABLE analytics_activityevent MODIFY created_at datetime(6) NULL")
    seed.seed(admin_cursor, 5000, corrupt_percent=2.0, invalid=True)
    manifest = backup(module_runner, mariadb, database, backups)
    assert manifest["ranges"][TABLE]["ranges"] and manifest["digests"]["sha256"]
    assert impact(module_runner, mariadb, database, backups)["rows_inserted_since"] == 0

    # Inserted since, stamped long before the backup and not stamped at all; an old row updated
    # with its timestamp kept; another old row deleted.
    seed.insert_rows(admin_cursor, [(1, "login", '{"late": 1}', "2001-01-01 00:00:00"), (2, "login", '{"late": 2}', None)])
    admin_cursor.execute("SELECT MAX(id) FROM analytics_activityevent")
    newest = admin_cursor.fetchone()[0]
    admin_cursor.execute("UPDATE analytics_activityevent SET metadata = '{\"edited\": true}', created_at = created_at WHERE id = 1234")
    admin_cursor.execute("DELETE FROM analytics_activityevent WHERE id = 4321")

    found = impact(module_runner, mariadb, database, backups, timestamp_column="created_at", impact_samples=5)
    assert found["exact"] and found["unknown"] == []
    assert (found["rows_inserted_since"], found["rows_changed_since"], found["rows_deleted_since"]) == (2, 1, 1)
    table = found["tables"][TABLE]
    assert table["inserted"]["sample_keys"] == [newest - 1, newest]
    assert table["inserted"]["timestamps"] == ["2001-01-01 00:00:00", "2001-01-01 00:00:00"]
    assert table["changed"] == dict(first_key=1234, last_key=1234, sample_keys=[1234], timestamps=[table["changed"]["timestamps"][0]] * 2)
    assert table["deleted"] == dict(first_key=4321, last_key=4321, sample_keys=[4321])
    # Rows 4321 and the two new ones share the last range.
    assert table["ranges_differing"] == 2 and table["rows_now"] == 5001 and table["rows_in_backup"] == 5000

    # db_restore reports the same counts as what it changed, and the table then equals the backup.
    restored = module_runner(db_restore, args_for(mariadb, database, backups, backup_id=manifest["id"], safety_backup=False))
    assert not restored.failed, restored.get("msg")
    done = restored["impact"]
    assert (done["rows_inserted_since"], done["rows_changed_since"], done["rows_deleted_since"]) == (2, 1, 1)
    again = impact(module_runner, mariadb, database, backups, backup_id=manifest["id"])
    assert (again["rows_inserted_since"], again["rows_changed_since"], again["rows_deleted_since"]) == (0, 0, 0)


@pytest.mark.parametrize(
    "key_type, keys",
    [
        ("varchar(40) CHARACTER SET utf8mb4", ["a,b;c", "ключ", "m", "z🙂"]),
        ("varbinary(16)", [b"\x00\x01", b"a;b", b"\xff\xfe", b"zz"]),
    ],
    ids=["text key", "binary key"],
)
def test_text_and_binary_keys(mariadb, database, admin_cursor, backups, module_runner, key_type, keys):
    admin_cursor.execute("CREATE TABLE %s (code %s NOT NULL PRIMARY KEY, metadata longtext NULL) DEFAULT CHARSET=utf8mb4" % (TABLE, key_type))
    rows = [(k, '{"n": %d}' % i) for i, k in enumerate(keys)]
    admin_cursor.executemany("INSERT INTO %s VALUES (%%s, %%s)" % TABLE, rows)
    backup(module_runner, mariadb, database, backups)
    admin_cursor.execute("UPDATE %s SET metadata = '3' WHERE code = %%s" % TABLE, (keys[1],))
    admin_cursor.execute("DELETE FROM %s WHERE code = %%s" % TABLE, (keys[2],))
    new_key = "0 new" if isinstance(keys[0], str) else b"\x00\x00"
    admin_cursor.execute("INSERT INTO %s VALUES (%%s, '{}')" % TABLE, (new_key,))
    found = impact(module_runner, mariadb, database, backups)
    table = found["tables"][TABLE]
    assert (found["rows_inserted_since"], found["rows_changed_since"], found["rows_deleted_since"]) == (1, 1, 1)

    def shown(key):
        return key if isinstance(key, str) else key.hex()

    assert table["inserted"]["sample_keys"] == [shown(new_key)]
    assert table["changed"]["sample_keys"] == [shown(keys[1])]
    assert table["deleted"]["sample_keys"] == [shown(keys[2])]


def test_an_empty_backup_a_dropped_table_and_a_table_without_a_key(mariadb, database, admin_cursor, backups, module_runner):
    seed.create_table(admin_cursor, check=False)
    backup(module_runner, mariadb, database, backups)  # empty: one open range, no digests to read
    seed.seed(admin_cursor, 30)
    found = impact(module_runner, mariadb, database, backups)
    assert (found["rows_inserted_since"], found["rows_changed_since"], found["rows_deleted_since"]) == (30, 0, 0)

    admin_cursor.execute("DROP TABLE %s" % TABLE)
    gone = impact(module_runner, mariadb, database, backups)["tables"][TABLE]
    assert gone["rows_deleted_since"] == 0 and gone["exact"] and "no longer exists" in gone["reason"]

    # No primary key: no ranges; an identical table is still known to change nothing.
    admin_cursor.execute("CREATE TABLE %s (metadata longtext NULL)" % TABLE)
    admin_cursor.execute("INSERT INTO %s VALUES ('{}'), ('3')" % TABLE)
    keyless = backup(module_runner, mariadb, database, backups, label="keyless")
    assert TABLE not in keyless["ranges"] and keyless["digests"] is None
    same = impact(module_runner, mariadb, database, backups, backup_id=keyless["id"])
    assert same["exact"] and same["rows_changed_since"] == 0
    admin_cursor.execute("INSERT INTO %s VALUES ('[]')" % TABLE)
    unknown = impact(module_runner, mariadb, database, backups, backup_id=keyless["id"])
    assert not unknown["exact"] and unknown["rows_inserted_since"] is None
    assert unknown["unknown"] == ["rows_changed_since", "rows_deleted_since", "rows_inserted_since"]
    assert "no single-column primary key" in unknown["tables"][TABLE]["reason"] and "3 rows now, 2 in the backup" in unknown["tables"][TABLE]["reason"]


def test_a_manifest_without_ranges_or_with_an_altered_digest_file_gives_no_number(mariadb, database, admin_cursor, backups, module_runner):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 200)
    manifest = backup(module_runner, mariadb, database, backups)
    admin_cursor.execute("UPDATE %s SET metadata = '1' WHERE id = 7" % TABLE)

    digests = backups / (manifest["id"] + ".digests.gz")
    original = digests.read_bytes()
    digests.write_bytes(gzip.compress(b"1,2,3"))
    altered = impact(module_runner, mariadb, database, backups)
    assert altered["rows_changed_since"] is None and "does not match its manifest" in altered["tables"][TABLE]["reason"]
    digests.write_bytes(original)

    # A manifest as written before the ranges existed.
    path = backups / (manifest["id"] + ".manifest.json")
    old = json.loads(path.read_text())
    for key in ("ranges", "digests"):
        old.pop(key)
    path.write_text(json.dumps(old))
    found = impact(module_runner, mariadb, database, backups)
    assert not found["exact"] and found["rows_changed_since"] is None
    reason = found["tables"][TABLE]["reason"]
    assert "holds no key ranges" in reason and "the table differs from the backup (200 rows now, 200 in the backup)" in reason


def test_ranges_match_the_table_checksum_and_stay_few(mariadb, database, admin_cursor, backups, module_runner):
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 3500)
    admin_cursor.execute("ANALYZE TABLE %s" % TABLE)
    manifest = backup(module_runner, mariadb, database, backups)
    index = manifest["ranges"][TABLE]
    sums = [sum(r[i] for r in index["ranges"]) for i in (1, 2, 3)]
    assert manifest["checksum"][TABLE] == "%s:%d:%d" % (index["algorithm"], sums[1], sums[2]) and sums[0] == 3500
    assert index["range_rows"] == ranges.MIN_RANGE_ROWS and len(index["ranges"]) == 4
    assert manifest["verified"]  # the verification compares the same checksum with the scratch copy
