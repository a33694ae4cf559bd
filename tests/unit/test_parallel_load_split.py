# How the parallel loader cuts a dump (issue 17, item 5): table data into one piece per INSERT
# statement, everything else kept whole and in order, at any chunk boundary.
import pytest
from ansible.module_utils.jsonmend.backup import parallel_load as pl
from ansible.module_utils.jsonmend.db.errors import BackupDefect

HEADER = (
    b"/*M!999999\\- enable the sandbox mode */ \n"
    b"-- MariaDB dump 10.19\n"
    b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n"
    b"/*!50503 SET NAMES utf8mb4 */;\n"
    b"/*!40103 SET TIME_ZONE='+00:00' */;\n"
    b"\n"
    b"DROP TABLE IF EXISTS `t`;\n"
    b"/*!40101 SET @saved_cs_client     = @@character_set_client */;\n"
    b"CREATE TABLE `t` (`id` int, `v` text);\n"
    b"LOCK TABLES `t` WRITE;\n"
)
# mariadb-dump: one row per line; a value may look like a statement's end or a dump's footer.
MARIADB_ROWS = b"INSERT INTO `t` VALUES\n(1,'a);'),\n(2,'-- Dump completed\\nINSERT INTO x VALUES (1);'),\n(3,NULL);\n"
# mysqldump: every row on one line.
MYSQL_ROWS = b"INSERT INTO `t` VALUES (4,'x'),(5,'y');\n"
TRIGGER = (
    b"UNLOCK TABLES;\n"
    b"DELIMITER ;;\n"
    b"/*!50003 CREATE*/ /*!50003 TRIGGER trg AFTER INSERT ON t FOR EACH ROW BEGIN\n"
    b"INSERT INTO log VALUES (NEW.id);\n"
    b"END */;;\n"
    b"DELIMITER ;\n"
)
FOOTER = b"/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;\n\n-- Dump completed on 2026-01-01  1:00:00\n"
DUMP = HEADER + MARIADB_ROWS + MYSQL_ROWS + TRIGGER + FOOTER


def pieces(data, size):
    return list(pl.split_dump(data[i : i + size] for i in range(0, len(data), size)))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 13, 64, 1 << 20])
def test_rows_are_cut_per_statement_and_the_rest_is_kept_whole_at_any_chunk_size(size):
    got = pieces(DUMP, size)
    assert got == [
        (pl.SERIAL, HEADER),
        (pl.ROWS, MARIADB_ROWS),
        (pl.ROWS, MYSQL_ROWS),
        (pl.SERIAL, TRIGGER + FOOTER),
    ]


def test_an_insert_inside_a_trigger_body_is_not_table_data():
    serial = [text for kind, text in pieces(DUMP, 7) if kind == pl.SERIAL]
    assert b"INSERT INTO log VALUES (NEW.id);" in serial[-1]


def test_a_dump_cut_inside_an_insert_is_refused():
    with pytest.raises(BackupDefect, match="ends inside an INSERT"):
        pieces(HEADER + MARIADB_ROWS[:-12], 9)


def test_every_session_replays_the_opening_settings_and_nothing_else():
    header = pl.session_header(HEADER)
    assert header.splitlines() == [
        b"/*M!999999\\- enable the sandbox mode */ ",
        b"/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;",
        b"/*!50503 SET NAMES utf8mb4 */;",
        b"/*!40103 SET TIME_ZONE='+00:00' */;",
    ]


def test_only_a_lock_conflict_between_the_sessions_loads_the_dump_again_in_one():
    from ansible.module_utils.jsonmend.backup.parallel_load import lock_conflict

    assert lock_conflict("the client failed to load the dump (exit status 1: ERROR 1213 (40001) at line 12: Deadlock found)")
    assert lock_conflict("(exit status 1: ERROR 1205 (HY000) at line 3: Lock wait timeout exceeded)")
    assert not lock_conflict("(exit status 1: ERROR 1062 (23000) at line 12: Duplicate entry '1' for key 'PRIMARY')")
    assert not lock_conflict("(exit status 1: ERROR 2013 (HY000): Lost connection)")
