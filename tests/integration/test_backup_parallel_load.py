# The dump loaded over several sessions (issue 17, item 5): the verification's scratch restore and
# the live restore give exactly what one session gives, triggers and routines whose bodies hold
# INSERT statements included; a session that fails stops the load with the client's message.
import gzip

import db_backup
import db_backup_verify
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup import clitools, parallel_load
from ansible.module_utils.jsonmend.backup.checksums import table_checksum
from ansible.module_utils.jsonmend.db.connection import connect
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tools.devstack import seed

pytestmark = pytest.mark.clock
TABLE = "analytics_activityevent"


@pytest.fixture
def shaped(admin_cursor):
    """Two tables, a trigger and a procedure whose bodies start lines with INSERT INTO, a view."""
    seed.create_table(admin_cursor, check=False)
    seed.seed(admin_cursor, 12000, corrupt_percent=2)
    admin_cursor.execute("CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, event_id BIGINT, note VARCHAR(32))")
    admin_cursor.execute(
        "CREATE TRIGGER audit_events AFTER UPDATE ON %s FOR EACH ROW BEGIN\nINSERT INTO audit (event_id, note) VALUES (NEW.id, 'update');\nEND" % TABLE
    )
    admin_cursor.execute("CREATE PROCEDURE note_it(IN n VARCHAR(32)) BEGIN\nINSERT INTO audit (event_id, note) VALUES (0, n);\nEND")
    admin_cursor.execute("CALL note_it('before')")
    admin_cursor.execute("CREATE VIEW recent AS SELECT id FROM %s WHERE id > 100" % TABLE)
    return admin_cursor


def args(mariadb, database, backup_dir, **extra):
    return dict(mariadb.login_params(database), backup_dir=str(backup_dir), table=TABLE, **extra)


def checksums(mariadb, database):
    db = connect(dict(mariadb.login_params(database), dialect="auto"))
    try:
        return {t: table_checksum(db, t) for t in (TABLE, "audit")}
    finally:
        db.close()


def test_backup_verified_and_restored_over_three_sessions_equals_the_original(mariadb, database, shaped, tmp_path, module_runner):
    backup_dir = tmp_path / "backups"
    backup_dir.mkdir(mode=0o700)
    before = checksums(mariadb, database)
    manifest = module_runner(db_backup, args(mariadb, database, backup_dir, scope="database", load_streams=3))["manifest"]
    assert manifest["verified"]
    verify_args = dict(mariadb.login_params(database), backup_dir=str(backup_dir), backup_id=manifest["id"], load_streams=3)
    verified = module_runner(db_backup_verify, verify_args)
    assert not verified.failed, verified.get("msg")
    verification = verified["manifest"]["verification"]
    # 3 sessions, or (a lock conflict between them, rare) the whole dump again in one: never a failure.
    assert verification["streams"] == 3 or (verification["streams"], verification["parallel_retried"]) == (1, True)

    shaped.execute("UPDATE %s SET event_type = 'changed' WHERE id <= 500" % TABLE)  # the trigger writes audit rows too
    shaped.execute("DROP PROCEDURE note_it")
    restored = module_runner(db_restore, args(mariadb, database, backup_dir, scope="database", safety_backup=False, load_streams=3))
    assert not restored.failed, restored.get("msg")
    assert restored["streams"] == 3 or (restored["streams"], restored["parallel_retried"]) == (1, True)
    assert checksums(mariadb, database) == before
    # The bodies came back whole: the trigger still writes its row, the procedure still exists.
    shaped.execute("UPDATE %s SET event_type = 'again' WHERE id = 1" % TABLE)
    shaped.execute("CALL note_it('after')")
    shaped.execute("SELECT note FROM audit ORDER BY id DESC LIMIT 2")
    assert [r[0] for r in shaped.fetchall()] == ["after", "update"]


def test_a_failing_session_stops_the_load_with_the_clients_message(mariadb, database, shaped, tmp_path):
    rows = "".join("INSERT INTO `audit` VALUES\n(%d,1,'x'),\n(%d,1,'y');\n" % (i * 2 + 100, i * 2 + 101) for i in range(40))
    duplicate = "INSERT INTO `audit` VALUES\n(100,1,'again');\n"
    dump = tmp_path / "dump.sql.gz"
    with gzip.open(dump, "wb") as f:
        f.write(("/*!40101 SET NAMES utf8mb4 */;\n" + rows + duplicate + "-- Dump completed on 2026-01-01\n").encode())
    options = [("user", "root"), ("socket", mariadb.socket), ("protocol", "SOCKET")]
    with clitools.OptionFile(options) as option_file:
        with pytest.raises(JsonmendError, match="Duplicate entry '100'"):
            parallel_load.load_dump(str(dump), clitools.client_command("mariadb", option_file, database), streams=2)
