# Pure parts of the backup code: option file quoting, the dump stream filters, manifest names,
# lookup and retention, checksum SQL, and module documentation that agrees with each spec.
import datetime
import json
import os
import random
import shutil
import stat
import subprocess

import db_backup
import db_backup_catalog
import db_backup_verify
import db_restore
import pytest
from ansible.module_utils.jsonmend.backup import checksums, clitools, manifests, pg_backups, plans
from ansible.module_utils.jsonmend.db.dialects import dialect_for
from ansible.module_utils.jsonmend.db.errors import JsonmendError

from tests.support.docs import documented_options

WEIRD_PASSWORDS = ['pa"ss', "back\\slash", "hash#semi;colon", " spaced out ", "quote's", "ünïcødé✓", "=equals=", "$HOME`id`"]


@pytest.mark.parametrize("password", WEIRD_PASSWORDS)
def test_option_file_round_trips_any_password(password):
    client = shutil.which("mariadb") or shutil.which("mysql")
    if not client:
        pytest.skip("no mariadb client")
    with clitools.OptionFile([("user", "u"), ("password", password), ("host", "127.0.0.1")], groups={"mysql": [("init-command", "SET x=1")]}) as f:
        mode = stat.S_IMODE(os.stat(f.path).st_mode)
        dir_mode = stat.S_IMODE(os.stat(f.dir).st_mode)
        out = subprocess.run([client, f.arg, "--print-defaults"], capture_output=True, text=True, check=True).stdout
        path = f.path
    assert mode == 0o600 and dir_mode == 0o700
    assert "--password=%s" % password in out
    assert "--init-command=SET x=1" in out
    assert not os.path.exists(path)


def test_option_values_refuse_line_breaks():
    with pytest.raises(JsonmendError, match="line breaks"):
        clitools.option_value("a\nb")


def test_dump_command_has_no_credentials_and_the_consistency_flags():
    class F:
        arg = "--defaults-file=/tmp/x/client.cnf"

    cmd = clitools.dump_command("/usr/bin/mariadb-dump", F, "app", ["t"], "table", "mariadb")
    assert cmd[1] == F.arg
    for flag in ("--single-transaction", "--quick", "--hex-blob", "--skip-routines", "--skip-events", "--add-drop-trigger"):
        assert flag in cmd
    assert cmd[-2:] == ["app", "t"]
    assert not any("password" in a for a in cmd)
    full = clitools.dump_command("/usr/bin/mysqldump", F, "app", ["t", "u"], "database", "mysql")
    assert "--routines" in full and "--events" in full and "--set-gtid-purged=OFF" in full
    assert full[-1] == "app"  # no --databases: no CREATE DATABASE/USE, so it loads into any schema


DUMP_WITH_EVENT = (
    b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\n--\n-- Table structure for table `t`\n--\n"
    b"INSERT INTO `t` VALUES (1,'ON COMPLETION NOT PRESERVE ENABLE DO x');\n"
    b"--\n-- Dumping events for database 'app'\n--\nDELIMITER ;;\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `ev1` ON SCHEDULE EVERY 1 HOUR"
    b" STARTS '2026-11-26 23:07:24' ON COMPLETION NOT PRESERVE ENABLE DO insert into t values (99,'ENABLE DO') \n*/ ;;\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER=`root`@`localhost`*/ /*!50106 EVENT `ev 2` ON SCHEDULE AT '2030-01-01 00:00:00'"
    b" ON COMPLETION PRESERVE DISABLE ON SLAVE DO delete from t */ ;;\nDELIMITER ;\n-- Dump completed on 2026-11-26 23:07:26\n"
)


@pytest.mark.parametrize("seed", range(5))
def test_event_disabler_disables_events_and_leaves_the_rest_byte_identical(seed):
    rng = random.Random(seed)
    flt = clitools.EventDisabler()
    out, at = b"", 0
    while at < len(DUMP_WITH_EVENT):
        step = rng.randint(1, 40)
        out += flt.feed(DUMP_WITH_EVENT[at : at + step])
        at += step
    out += flt.close()
    expected = DUMP_WITH_EVENT.replace(b"NOT PRESERVE ENABLE DO insert", b"NOT PRESERVE DISABLE DO insert").replace(
        b"PRESERVE DISABLE ON SLAVE DO delete", b"PRESERVE DISABLE DO delete"
    )
    assert out == expected
    assert b"VALUES (1,'ON COMPLETION NOT PRESERVE ENABLE DO x')" in out  # data is never rewritten


def test_snapshot_marker_ignores_the_header():
    header = b"/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump 10.19\n--\n-- Host: h    Database: d\n/*!40101 SET NAMES utf8mb4 */;\n"
    assert not clitools.SNAPSHOT_MARKER.search(header)
    assert clitools.SNAPSHOT_MARKER.search(header + b"\n--\n-- Table structure for table `t`\n")
    assert clitools.SNAPSHOT_MARKER.search(header + b"\n-- Dump completed on 2026-01-01\n")


def test_backup_ids_follow_the_runbook_names():
    when = datetime.datetime(2026, 11, 26, 23, 15, 0, tzinfo=datetime.UTC)
    assert manifests.backup_id("activityevent", when) == "backup_activityevent_20261126_231500"
    assert manifests.backup_id("", when) == "backup_20261126_231500"
    with pytest.raises(JsonmendError, match="label"):
        manifests.backup_id("a/b", when)


def manifest(ident, created, verified=True, database="app", scope="table", tables=("t",), server="db1:3306"):
    return dict(
        format=manifests.FORMAT,
        id=ident,
        scope=scope,
        database=database,
        tables=list(tables),
        rows={},
        checksum={},
        sha256="0",
        created_at=created,
        verified=verified,
        server=dict(identity=server) if server else dict(flavour="mariadb"),
    )


def test_retention_keeps_newest_verified_per_group_and_never_unverified_or_current():
    items = [
        manifest("backup_t_20260101_000001", "2026-01-01T00:00:01Z"),
        manifest("backup_t_20260101_000002", "2026-01-01T00:00:02Z", verified=False),
        manifest("backup_t_20260101_000003", "2026-01-01T00:00:03Z"),
        manifest("backup_t_20260101_000004", "2026-01-01T00:00:04Z"),
        manifest("backup_u_20260101_000001", "2026-01-01T00:00:01Z", tables=("u",)),
        manifest("backup_20260101_000001", "2026-01-01T00:00:01Z", scope="database", tables=("t", "u")),
        manifest("backup_20260101_000002", "2026-01-01T00:00:02Z", scope="database", tables=("t", "u", "v")),
    ]
    assert [m["id"] for m in manifests.retention_plan(items[4:], 1)[0]] == ["backup_20260101_000001"]  # a new table, same group
    ids = lambda plan: sorted(m["id"] for m in plan[0])  # noqa: E731
    assert ids(manifests.retention_plan(items, 1)) == ["backup_20260101_000001", "backup_t_20260101_000001", "backup_t_20260101_000003"]
    assert ids(manifests.retention_plan(items, 2)) == ["backup_t_20260101_000001"]
    assert ids(manifests.retention_plan(items[:4], 1, current_id="backup_t_20260101_000003")) == ["backup_t_20260101_000001"]
    assert manifests.retention_plan(items, 0) == ([], [])


def test_retention_groups_by_server_and_never_deletes_the_last_good_backup():
    """Issue 13 item 8: a staging backup of the same database name is its own group; a verified
    backup whose file fails its check is not counted (so the older good one stays); an old
    manifest without identity and the safety backups of a restore are never mixed in."""
    prod_old = manifest("backup_t_20260101_000001", "2026-01-01T00:00:01Z", server="prod:3306")
    prod_gone = manifest("backup_t_20260101_000003", "2026-01-01T00:00:03Z", server="prod:3306")
    staging = manifest("backup_t_20260101_000004", "2026-01-01T00:00:04Z", server="staging:3306")
    legacy = manifest("backup_t_20251201_000001", "2025-12-01T00:00:01Z", server=None)
    safety = manifest("backup_pre_restore_t_20260101_000005", "2026-01-01T00:00:05Z", server="prod:3306")
    items = [prod_old, prod_gone, staging, legacy, safety]
    checked = []

    def file_problem(m):
        checked.append(m["id"])
        return "dump file gone" if m is prod_gone else None

    doomed, notes = manifests.retention_plan(items, 1, file_problem=file_problem)
    assert doomed == []  # prod's only good backup is the old one; staging and the safety backup are alone
    assert any("backup_t_20260101_000003 is verified but not counted" in n and "dump file gone" in n for n in notes)
    assert any("backup_t_20251201_000001 records no server identity" in n for n in notes)
    assert sorted(checked) == ["backup_t_20260101_000001", "backup_t_20260101_000003"]  # only groups above keep are read
    newer = manifest("backup_t_20260101_000006", "2026-01-01T00:00:06Z", server="prod:3306")
    doomed, _notes = manifests.retention_plan(items + [newer], 1, file_problem=file_problem)
    # A good newer backup exists now: what is older than it goes, the broken one included.
    assert [m["id"] for m in doomed] == ["backup_t_20260101_000003", "backup_t_20260101_000001"]


def test_latest_skips_safety_backups_and_other_servers(tmp_path):
    for m in (
        manifest("backup_t_20260101_000001", "2026-01-01T00:00:01Z", server="prod:3306"),
        manifest("backup_t_20260101_000002", "2026-01-01T00:00:02Z", server=None),
        manifest("backup_t_20260101_000003", "2026-01-01T00:00:03Z", server="staging:3306"),
        manifest("backup_pre_restore_t_20260101_000004", "2026-01-01T00:00:04Z", server="prod:3306"),
    ):
        write(tmp_path, m)
    assert manifests.resolve(str(tmp_path), "latest", database="app", table="t", server="prod:3306")["id"] == "backup_t_20260101_000001"
    assert manifests.resolve(str(tmp_path), "latest", database="app", table="t")["id"] == "backup_t_20260101_000003"
    with pytest.raises(JsonmendError, match="taken on server other:1"):
        manifests.resolve(str(tmp_path), "latest", database="app", table="t", server="other:1")


def write(tmp_path, m):
    (tmp_path / (m["id"] + manifests.MANIFEST_SUFFIX)).write_text(json.dumps(m))


def test_resolve_latest_verified_and_by_id(tmp_path):
    for m in (
        manifest("backup_t_20260101_000001", "2026-01-01T00:00:01Z"),
        manifest("backup_t_20260101_000002", "2026-01-01T00:00:02Z", verified=False),
        manifest("backup_20260101_000003", "2026-01-01T00:00:03Z", scope="database", tables=("t", "u")),
    ):
        write(tmp_path, m)
    (tmp_path / "junk.manifest.json").write_text("{not json")
    assert manifests.resolve(str(tmp_path), "latest", database="app", scope="table", table="t")["id"] == "backup_t_20260101_000001"
    assert manifests.resolve(str(tmp_path), "latest", database="app", table="t")["id"] == "backup_20260101_000003"
    found = manifests.resolve(str(tmp_path), "backup_t_20260101_000002", database="app")
    assert found["path"] == str(tmp_path / "backup_t_20260101_000002.sql.gz")
    with pytest.raises(JsonmendError, match="no verified backup scope table of x"):
        manifests.resolve(str(tmp_path), "latest", database="app", scope="table", table="x")
    with pytest.raises(JsonmendError, match="does not exist"):
        manifests.resolve(str(tmp_path), "backup_t_20990101_000000", database="app")
    with pytest.raises(JsonmendError, match="is not of the form"):
        manifests.resolve(str(tmp_path), "../../etc/passwd", database="app")
    with pytest.raises(JsonmendError, match="cannot be read"):
        manifests.read_manifest(str(tmp_path / "junk.manifest.json"))
    (tmp_path / "other.manifest.json").write_text('{"format": "something else"}')
    with pytest.raises(JsonmendError, match="not a jsonmend backup manifest"):
        manifests.read_manifest(str(tmp_path / "other.manifest.json"))
    _found, problems = manifests.list_manifests(str(tmp_path))
    assert len(problems) == 2 and "junk.manifest.json" in problems[0]


def test_write_manifest_refuses_to_overwrite_and_is_private(tmp_path):
    path = str(tmp_path / "backup_t_20260101_000001.manifest.json")
    manifests.write_manifest(manifest("backup_t_20260101_000001", "x"), path, create=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with pytest.raises(JsonmendError, match="refusing to overwrite"):
        manifests.write_manifest(manifest("backup_t_20260101_000001", "x"), path, create=True)
    manifests.write_manifest(dict(manifest("backup_t_20260101_000001", "x"), verified=False), path)
    assert json.loads(open(path).read())["verified"] is False
    assert sorted(os.listdir(tmp_path)) == ["backup_t_20260101_000001.manifest.json"]


def test_row_expression_is_length_prefixed_with_a_null_marker():
    sql = checksums.row_expression([("id", False), ("metadata", True)])
    assert sql == "CONCAT(IFNULL(CONCAT(LENGTH(`id`), ':', `id`), '-'), IFNULL(CONCAT(LENGTH(`metadata`), ':', CAST(`metadata` AS BINARY)), '-'))"
    # Names read from the catalog are quoted, never refused (issue 13 item 12): a backquote is doubled.
    assert checksums.row_expression([("bad`name", False)]) == "CONCAT(IFNULL(CONCAT(LENGTH(`bad``name`), ':', `bad``name`), '-'))"
    assert "`événement-2`" in checksums.row_expression([("événement-2", True)])
    for bad in ("", "x\x00y", "x" * 65):
        with pytest.raises(JsonmendError):
            checksums.row_expression([(bad, False)])


@pytest.mark.parametrize(
    ("version", "tag"),
    [("10.11.19-MariaDB-log", "crc32+crc32c"), ("10.6.18-MariaDB", "crc32+md5"), ("8.0.36", "crc32+md5")],
)
def test_hash_functions_follow_the_server(version, tag):
    from ansible.module_utils.jsonmend.db.dialects import flavour_from_version

    assert checksums.hash_functions(dialect_for(flavour_from_version(version), version))[0] == tag


def test_checksum_statement_with_a_key_range():
    statement, args, tag = checksums.checksum_statement(dialect_for("mariadb", "10.11.19"), "t", [("id", False)], key="id", low=5, high=9, database="d")
    assert statement.endswith("FROM `d`.`t` WHERE `id` >= %s AND `id` <= %s") and args == (5, 9) and tag == "crc32+crc32c"


def test_compare_checksums_names_the_difference():
    a = dict(rows=3, checksum="crc32+crc32c:1:2")
    assert checksums.compare_checksums(a, dict(a)) is None
    assert "3 rows expected, 2 found" in checksums.compare_checksums(a, dict(rows=2, checksum="crc32+crc32c:1:2"))
    assert "content differs" in checksums.compare_checksums(a, dict(rows=3, checksum="crc32+crc32c:1:3"))
    assert "different algorithms" in checksums.compare_checksums(a, dict(rows=3, checksum="crc32+md5:1:2"))


class _Sizes:
    """A catalog's sizes, as the plan reads them from the server."""

    def total_bytes(self):
        return 1000 * 1024 * 1024


def test_the_scratch_copy_must_fit_in_the_server_data_directory():
    needed = plans.scratch_bytes(_Sizes())
    assert needed == int(1000 * 1024 * 1024 * 1.1)
    assert plans.require_scratch_room("the server's data directory /srv/pg", needed, needed) == dict(checked=True, free_bytes=needed, needed_bytes=needed)
    with pytest.raises(JsonmendError) as refused:
        plans.require_scratch_room("the server's data directory /srv/pg", 200 * 1024 * 1024, needed)
    message = str(refused.value)
    assert "not enough free space in the server's data directory /srv/pg for the verification's scratch copy" in message
    assert "200.0 MiB free, 1.1 GiB needed" in message and "backup_verify: false" in message and "nothing was written" in message


class _Conn:
    def __init__(self, host):
        self.info = type("Info", (), dict(host=host))()


@pytest.mark.parametrize(
    "host, local", [("/var/run/postgresql", True), ("127.0.0.1", True), ("localhost", True), ("::1", True), ("db.example.com", False), ("10.0.0.5", False)]
)
def test_only_a_local_postgresql_server_has_its_data_directory_measured(host, local):
    db = type("Db", (), dict(conn=_Conn(host)))()
    assert pg_backups.connection_is_local(db) is local


@pytest.mark.parametrize("module", [db_backup, db_backup_verify, db_backup_catalog, db_restore], ids=lambda m: m.__name__)
def test_module_documentation_agrees_with_the_argument_spec(module):
    """ansible-doc renders the docs but never compares them with the spec: this does."""
    spec = module.argument_spec()
    options = documented_options(module)
    assert sorted(options) == sorted(spec)
    for name, doc in options.items():
        arg = spec[name]
        assert doc.get("type", "str") == arg.get("type", "str"), name
        assert doc.get("default") == arg.get("default"), name
        assert doc.get("choices") == arg.get("choices"), name
        assert bool(doc.get("required")) == bool(arg.get("required")), name
        assert sorted(doc.get("aliases", [])) == sorted(arg.get("aliases", [])), name
