# Pure functions of the repair: policy, value SQL, grants parsing, lock names, progress
# formatting, ledger key encoding, the module's input validation and the verdict filter.
import datetime

import json_type_repair
import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.jsonmend.db import grants, locks
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.repair import ledger, policy, progress

from filter_plugins.jsonmend_cleanup import backup_problems, cleanup_verdict
from tests.support.docs import documented_options


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("STRING+OBJECT", "unwrap"),
        ("INTEGER", "null"),
        ("UNSIGNED INTEGER", "null"),
        ("DECIMAL", "null"),
        ("INVALID", "null"),
        ("DATETIME", "null"),  # a MySQL type the policy does not name: the default action
        ("OBJECT", "skip"),
        ("SQL NULL", "skip"),
    ],
)
def test_default_policy(kind, expected):
    assert policy.Policy().action(kind) == expected


def test_operator_map_is_laid_over_the_defaults():
    p = policy.Policy({"INTEGER": "wrap", "OPAQUE": "skip"}, default_action="skip", wrap_key="legacy")
    assert p.action("INTEGER") == "wrap" and p.action("STRING+OBJECT") == "unwrap"
    assert p.action("OPAQUE") == "skip" and p.action("ARRAY") == "skip"
    described = p.describe()
    assert described["actions"]["OPAQUE"] == "skip" and described["wrap_key"] == "legacy"


@pytest.mark.parametrize(
    "mapping, default, key, needle",
    [
        ({"INTEGER": "unwrap"}, "null", "value", "unwrap only applies to STRING+OBJECT"),
        ({"INTEGER": "drop"}, "null", "value", "is not one of unwrap, wrap, null, empty, skip"),
        ({"integer": "null"}, "null", "value", "is not a JSON kind"),
        ({"OBJECT": "null"}, "null", "value", "names a healthy kind"),
        ({}, "unwrap", "value", "default_action 'unwrap' must be auto, wrap, null, empty or skip"),
        ({}, "null", "", "wrap_key must be a non-empty string"),
        ("INTEGER=null", "null", "value", "must be a dict"),
    ],
)
def test_bad_policies_are_refused(mapping, default, key, needle):
    problems = policy.policy_problems(mapping, default, key)
    assert any(needle in p for p in problems), problems
    with pytest.raises(JsonmendError):
        policy.Policy(mapping, default, key)


def test_value_sql_nests_and_guards():
    assert policy.new_value_sql("null", "INTEGER", "`m`") == ("NULL", ())
    assert policy.new_value_sql("unwrap", "STRING+OBJECT", "`m`") == ("JSON_UNQUOTE(`m`)", ())
    # Extracted first, so the value nests on a plain LONGTEXT column too.
    assert policy.group_sql(("wrap", "json"), "`m`", "k") == ("JSON_OBJECT(%s, JSON_EXTRACT(`m`, '$'))", ("k",))
    # Invalid text cannot be extracted: wrapped as a JSON string of the raw text.
    assert policy.group_sql(("wrap", "raw"), "`m`", "k") == ("JSON_OBJECT(%s, CAST(`m` AS CHAR))", ("k",))
    assert policy.expression_group("wrap", "INVALID") == ("wrap", "raw")
    assert policy.expression_group("wrap", "ARRAY") == policy.expression_group("wrap", "DOUBLE")
    with pytest.raises(JsonmendError):
        policy.new_value_sql("unwrap", "STRING", "`m`")


GRANTS = [
    "GRANT USAGE ON *.* TO `tool`@`%` IDENTIFIED BY PASSWORD '*0123456789ABCDEF0123456789ABCDEF01234567'",
    "GRANT SELECT, UPDATE (`metadata`, `id`) ON `app\\_db`.`events` TO `tool`@`%`",
    "GRANT SELECT, INSERT, UPDATE, CREATE ON `app\\_db`.`events\\_jsonmend\\_%` TO `tool`@`%`",
    "GRANT SELECT ON `rep%`.* TO `tool`@`%`",
]


def test_grants_are_parsed_with_patterns_and_column_lists():
    parsed = grants.parse_grants(GRANTS)
    assert grants.missing_privileges(parsed, "app_db", "events", ["SELECT", "UPDATE"]) == []
    assert grants.missing_privileges(parsed, "appXdb", "events", ["SELECT"]) == ["SELECT"]  # escaped '_' is literal
    assert grants.missing_privileges(parsed, "reports", "t", ["SELECT", "UPDATE"]) == ["UPDATE"]
    assert grants.missing_privileges(grants.parse_grants(["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"]), "x", "y", ["CREATE"]) == []


def test_grant_lines_are_redacted():
    redacted = grants.redact(GRANTS[0])
    assert "0123456789ABCDEF" not in redacted and redacted.endswith("IDENTIFIED BY <redacted>")
    assert grants.redact("GRANT USAGE ON *.* TO `u`@`%` IDENTIFIED VIA ed25519 USING 'abc' WITH MAX_QUERIES_PER_HOUR 1").endswith(
        "<redacted> WITH MAX_QUERIES_PER_HOUR 1"
    )


def test_lock_names_stay_within_64_characters():
    assert locks.table_lock_name("app", "events") == "jsonmend:app.events"
    long_name = locks.table_lock_name("d" * 64, "t" * 64)
    assert len(long_name) == 64 and long_name.startswith("jsonmend:")
    assert long_name != locks.table_lock_name("d" * 64, "u" * 64)


def test_progress_formatting():
    assert progress.format_duration(5.04) == "5.0s"
    assert progress.format_duration(125) == "2m05s"
    assert progress.format_duration(3723) == "1h02m03s"
    assert progress.format_duration(None) == "?"
    assert progress.eta_seconds(0.25, 10) == 30
    assert progress.eta_seconds(0, 10) is None
    line = progress.progress_line("repair", "r1", 1000, 0.5, 2000, 12, 7, 500, "Threads_running=30 > 25")
    assert "rows=1000  50.0% rate=2000 rows/s eta=12.0s changed=7 chunk=500 throttled: Threads_running=30 > 25" in line
    block = progress.stats_block("repair", "r1", "finished", dict(chunks=3, actions={"null": 2}, throttle_waits=1, throttle_seconds=2.5))
    assert "chunks         : 3" in block and "throttle waits : 1 (2.5s)" in block and "    null" in block


def test_ledger_keys_and_types():
    assert ledger.decode_key(ledger.encode_key(42)) == 42
    assert ledger.decode_key(ledger.encode_key("a'b")) == "a'b"
    assert ledger.key_type_sql("bigint(20) unsigned") == "bigint(20) unsigned"
    assert ledger.key_type_sql("varchar(36)", "utf8mb4", "utf8mb4_bin") == "varchar(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    with pytest.raises(JsonmendError):
        ledger.key_type_sql("int; DROP TABLE x")
    with pytest.raises(JsonmendError, match="longer than 64"):
        ledger.default_names("t" * 50)


def params(**extra):
    base = dict((k, v.get("default")) for k, v in json_type_repair.argument_spec().items())
    base.update(database="app")
    base.update(extra)
    return base


@pytest.mark.parametrize(
    "extra, needle",
    [
        (dict(dialect="sqlite"), "dialect sqlite cannot be repaired"),
        (dict(run_id="bad id!"), "run_id 'bad id!'"),
        (dict(chunk_size_min=10, chunk_size_max=5), "chunk_size_min (10) is above chunk_size_max (5)"),
        (dict(innodb_lock_wait_timeout=0), "innodb_lock_wait_timeout must be 1-3600"),
        (dict(since="yesterday", mode="status"), "is not a time"),
        (dict(since="2026-01-01"), "since only applies to mode=status"),
        (dict(replicas=[{"login_host": "r1"}], max_replica_lag=0), "max_replica_lag is 0"),
        (dict(table="a;b"), "table 'a;b' is not a valid identifier"),
        (dict(throttle_interval=0), "throttle_interval must be above 0"),
    ],
)
def test_module_refuses_bad_input(extra, needle):
    problems = json_type_repair.validate_params(params(**extra))
    assert any(needle in p for p in problems), problems


def test_module_accepts_its_defaults():
    assert json_type_repair.validate_params(params()) == []


SCAN_CLEAN = dict(corrupted_rows=0, by_type={"OBJECT": 10, "STRING": 0}, double_encoded_rows=0, samples=[], first_corrupt={}, last_corrupt={})


def test_verdict_clean_after_repair():
    verdict = cleanup_verdict(SCAN_CLEAN, dict(actions={"null": 3}), {"actions": {"INTEGER": "null"}})
    assert verdict["ok"] is True and verdict["unexpected_rows"] == 0


def test_verdict_reports_rows_corrupt_again_and_skipped_kinds():
    scan = dict(
        SCAN_CLEAN,
        corrupted_rows=5,
        by_type={"OBJECT": 10, "INTEGER": 2, "STRING": 3, "INVALID": 0},
        double_encoded_rows=1,
        samples=[{"id": 9, "type": "INTEGER"}],
        last_corrupt={"id": 9},
    )
    pol = {"actions": {"INTEGER": "null", "STRING": "skip", "STRING+OBJECT": "unwrap"}}
    verdict = cleanup_verdict(scan, dict(key_range={"end": 8}), pol)
    assert verdict["skipped_rows"] == 2  # STRING minus the double-encoded one
    assert verdict["unexpected_rows"] == 3 and verdict["ok"] is False
    assert verdict["written_after_walk"] is True
    assert "3 rows are still corrupt" in verdict["message"]


def test_verdict_refuses_a_scan_without_counts():
    with pytest.raises(AnsibleFilterError):
        cleanup_verdict({}, {}, {})


MANIFEST = dict(verified=True, id="b1", path="/b/b1.sql.gz", manifest_path="/b/b1.json", created_at="2026-11-26T02:00:00Z", database="app", tables=["events"])
TARGET = dict(database="app", table="events")
NOW = datetime.datetime(2026, 11, 26, 5, 0, tzinfo=datetime.UTC)


def test_a_verified_manifest_of_the_table_covers_the_repair():
    assert backup_problems(MANIFEST, TARGET, 24, NOW) == []
    assert backup_problems(dict(MANIFEST, tables=[]), TARGET, 0, NOW) == []  # a whole-database backup


@pytest.mark.parametrize(
    "manifest, needle",
    [
        ({}, "no backup manifest"),
        (dict(MANIFEST, verified=False), "is not verified"),
        (dict(MANIFEST, verified="true"), "is not verified"),
        (dict(MANIFEST, database="other"), "is of database 'other'"),
        (dict(MANIFEST, tables=["users"]), "holds tables users, not events"),
        (dict(MANIFEST, created_at="2026-11-24 02:00:00"), "51.0 hours old"),
        (dict(MANIFEST, created_at="last night"), "is not an ISO 8601 time"),
        (dict((k, v) for k, v in MANIFEST.items() if k != "path"), "the manifest lacks path"),
    ],
)
def test_manifests_that_do_not_cover_the_repair(manifest, needle):
    assert any(needle in p for p in backup_problems(manifest, TARGET, 24, NOW)), backup_problems(manifest, TARGET, 24, NOW)


def _compare_options(doc_options, spec, path="options"):
    """Every documented option matches the spec's type, default, choices, aliases and elements."""
    problems = []
    if set(doc_options) != set(spec):
        problems.append("%s: documented %s, spec %s" % (path, sorted(set(doc_options) - set(spec)), sorted(set(spec) - set(doc_options))))
    for name in set(doc_options) & set(spec):
        doc, arg = doc_options[name], spec[name]
        for key in ("type", "default", "choices", "aliases", "elements", "required"):
            want = arg.get(key, False if key == "required" else None)
            have = doc.get(key, False if key == "required" else None)
            if key == "default" and arg.get("type") == "path" and want == "~/.my.cnf":
                have = str(have)
            if want != have:
                problems.append("%s.%s: %s documented %r, spec %r" % (path, name, key, have, want))
        if "options" in arg or "suboptions" in doc:
            problems += _compare_options(doc.get("suboptions", {}), arg.get("options", {}), "%s.%s" % (path, name))
    return problems


def test_repair_documentation_agrees_with_the_argument_spec():
    import yaml

    assert _compare_options(documented_options(json_type_repair), json_type_repair.argument_spec()) == []
    yaml.safe_load(json_type_repair.EXAMPLES)
    returned = yaml.safe_load(json_type_repair.RETURN)
    for key in ("run_id", "actions", "by_type", "rows_changed", "chunks", "retries", "throttle_waits", "rows_per_s", "restored", "conflicts", "statistics"):
        assert key in returned
