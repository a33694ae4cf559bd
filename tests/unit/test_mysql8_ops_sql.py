# What the backup, verification, restore and server-identity code sends to a MySQL 8 server,
# checked as generated text (no MySQL 8 server can be installed here; docs/RELIABILITY.md says
# what this does and does not prove). MariaDB's own statements are run for real elsewhere.
import pytest
from ansible.module_utils.jsonmend.backup import checksums, clitools
from ansible.module_utils.jsonmend.db import servers
from ansible.module_utils.jsonmend.db.dialects import dialect_for
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.locks import table_lock_name


class Options:
    arg = "--defaults-file=/x/client.cnf"


def test_mysql_sessions_never_set_a_mariadb_only_variable():
    """Issue 13 item 15: check_constraint_checks is MariaDB's; on MySQL `SET` of it fails (ERROR
    1193) and with it every verification and restore. MySQL gets no init-command at all, or only
    sql_log_bin for the scratch restore."""
    assert clitools.restore_init_command(False, "mysql") is None
    assert clitools.restore_init_command(True, "mysql") == "SET SESSION sql_log_bin=0"
    assert clitools.client_option_groups(False, "mysql") == {}
    assert clitools.client_option_groups(True, "mysql") == {"mysql": [("init-command", "SET SESSION sql_log_bin=0")]}
    # MariaDB keeps both.
    assert clitools.restore_init_command(False, "mariadb") == "SET SESSION check_constraint_checks=0"
    assert clitools.client_option_groups(True, "mariadb") == {"mysql": [("init-command", "SET SESSION check_constraint_checks=0, sql_log_bin=0")]}


def test_mysql_dump_and_client_commands():
    dump = clitools.dump_command("/usr/bin/mysqldump", Options, "app", ["analytics_activityevent"], "table", "mysql")
    assert "--set-gtid-purged=OFF" in dump and "--add-drop-trigger" not in dump
    assert dump[-2:] == ["app", "analytics_activityevent"] and not any("password" in a for a in dump)
    client = clitools.client_command("/usr/bin/mysql", Options, "app")
    assert client == ["/usr/bin/mysql", Options.arg, "--database=app", "--max-allowed-packet=1G", "--default-character-set=utf8mb4", "--batch"]
    assert clitools.dump_tool_names("mysql") == ("mysqldump", "mariadb-dump")


def test_server_identity_sql_per_flavour():
    """Item 9: MySQL has @@server_uuid, MariaDB has not (naming it fails the statement)."""
    assert servers.identity_statement("mysql") == "SELECT @@GLOBAL.server_uuid, @@GLOBAL.hostname, @@GLOBAL.port"
    assert "server_uuid" not in servers.identity_statement("mariadb")
    assert servers.identity_text("3e11fa47-71ca-11e1-9e33-c80aa9429562", "db1", 3306) == "uuid:3e11fa47-71ca-11e1-9e33-c80aa9429562"
    assert servers.identity_text(None, "db1", 3306) == "db1:3306"


def test_check_server_refuses_another_and_warns_for_an_old_manifest():
    ours = {"id": "backup_x_20260101_000000", "server": {"identity": "db1:3306"}}
    assert servers.check_server(ours, "db1:3306") is None
    with pytest.raises(JsonmendError, match="was taken on server db1:3306, but this is server db2:3306"):
        servers.check_server(ours, "db2:3306")
    assert "not on this server" in servers.check_server(ours, "db2:3306", allow_other=True)
    assert "records no server identity" in servers.check_server({"id": "old", "server": {"flavour": "mariadb"}}, "db1:3306")


def test_mysql_checksum_sql_quotes_catalog_names():
    """Item 12 on MySQL: CRC32C is MariaDB's, MD5's first 32 bits stand in; a name read from the
    catalog is quoted (the backquote doubled), not refused."""
    mysql = dialect_for("mysql", "8.0.36")
    statement, args, tag = checksums.checksum_statement(mysql, "événements-2024", [("id", False), ("a`b", True)], database="app")
    assert tag == "crc32+md5" and args == ()
    assert "FROM `app`.`événements-2024`" in statement and "CAST(`a``b` AS BINARY)" in statement
    assert "CRC32C" not in statement and "CONV(LEFT(MD5(" in statement
    ranged, args, _tag = checksums.checksum_statement(mysql, "t", [("id", False)], key="id", low=1, high=9, database="app")
    assert ranged.endswith("WHERE `id` >= %s AND `id` <= %s") and args == (1, 9)


def test_restore_lock_name_is_the_repairs():
    """Item 10: the restore takes the lock the repair and undo take (at most 64 characters: MySQL's limit)."""
    assert table_lock_name("app", "analytics_activityevent") == "jsonmend:app.analytics_activityevent"
    long_name = table_lock_name("d" * 64, "t" * 64)
    assert len(long_name) == 64 and long_name.startswith("jsonmend:")
