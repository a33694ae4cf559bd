# The operations decisions as pure functions (issue 13 items 7, 9, 11): control files per target,
# the backup gate's server check, which repair run a deploy made, and when the automatic
# rollback may restore a backup (only when the undo is impossible).
import pytest
from ansible.errors import AnsibleFilterError

from filter_plugins.jsonmend_cleanup import backup_problems, control_files
from filter_plugins.jsonmend_rollback_data import deploy_repair_run, rollback_data_plan, undo_command

TARGET = dict(database="app", table="analytics_activityevent", column="metadata", primary_key="id")


def test_control_files_are_per_server_and_target_repair_and_undo_apart():
    files = control_files("/var/tmp/jsonmend", TARGET, dict(host="db1.example.com", port=3307))
    assert files["dir"] == "/var/tmp/jsonmend/db1.example.com_3307/app.analytics_activityevent.metadata"
    assert files["repair"] == dict(pause=files["dir"] + "/repair.pause", stop=files["dir"] + "/repair.stop", progress=files["dir"] + "/repair.progress")
    assert files["undo"]["stop"] == files["dir"] + "/undo.stop" and files["parents"] == ["/var/tmp/jsonmend/db1.example.com_3307"]
    other_column = control_files("/var/tmp/jsonmend", dict(TARGET, column="payload"), dict(host="db1.example.com", port=3307))
    staging = control_files("/var/tmp/jsonmend", TARGET, dict(host="db2.example.com"))
    assert len({files["repair"]["stop"], other_column["repair"]["stop"], staging["repair"]["stop"]}) == 3
    assert staging["dir"].startswith("/var/tmp/jsonmend/db2.example.com_3306/")
    socket = control_files("/var/tmp/jsonmend/", TARGET, dict(socket="/run/mysqld/mysqld.sock", host="ignored"))
    assert socket["dir"] == "/var/tmp/jsonmend/socket_run_mysqld_mysqld.sock/app.analytics_activityevent.metadata"
    assert control_files("/c", TARGET)["dir"] == "/c/default/app.analytics_activityevent.metadata"
    assert "/../" not in control_files("/c", TARGET, dict(host=".."))["dir"]
    for bad in ("relative", "", None):
        with pytest.raises(AnsibleFilterError):
            control_files(bad, TARGET)


def test_backup_gate_refuses_another_servers_backup():
    manifest = dict(
        verified=True, id="b", path="/b", manifest_path="/b.json", created_at="2026-01-01T00:00:00Z", database="app", tables=["analytics_activityevent"]
    )
    mine = dict(manifest, server=dict(identity="db1:3306"))
    assert backup_problems(mine, TARGET, 0, None, "db1:3306") == []
    assert "was taken on server db1:3306, but the repair runs on server db2:3306" in backup_problems(mine, TARGET, 0, None, "db2:3306")[0]
    assert backup_problems(manifest, TARGET, 0, None, "db2:3306") == []  # no identity recorded: the gate warns instead


RUNS = [
    dict(run_id="r3-undo", kind="undo", deploy_ids=["d3"]),
    dict(run_id="d1", kind="repair", deploy_ids=["d1", "d2"]),  # started by d1, resumed by d2
    dict(run_id="r0", kind="repair", deploy_ids=[]),  # an older ledger: no deploy ids
]


def test_a_resumed_run_is_found_by_the_deploy_that_resumed_it():
    assert deploy_repair_run(RUNS, "d2") == "d1" and deploy_repair_run(RUNS, "d1") == "d1"
    assert deploy_repair_run(RUNS, "r0") == "r0"  # a fresh run takes the deploy's id
    assert deploy_repair_run(RUNS, "d3") == "" and deploy_repair_run([], "d1") == ""


def test_undo_command_is_exact_and_quoted():
    assert undo_command(TARGET, "d1") == (
        "ansible-playbook playbooks/rollback.yml -e jsonmend_rollback_scope=data -e jsonmend_rollback_run_id=d1"
        " -e jsonmend_db_name=app -e jsonmend_table=analytics_activityevent -e jsonmend_column=metadata -e jsonmend_primary_key=id"
    )
    assert "jsonmend_rollback_run_id" not in undo_command(TARGET)


def ledger(possible=True, run_id="d1", rows=20, reason="", readable=True):
    return dict(
        runs=RUNS,
        undo=dict(possible=possible, run_id=run_id if possible else None, quarantined_rows=rows, reason=reason, ledger_readable=readable),
    )


BACKUP = dict(id="backup_t_20260101_000000")


@pytest.mark.parametrize(
    ("status", "repair", "fallback", "backup", "method", "needle"),
    [
        # The lossless path whenever the quarantine holds the run.
        (ledger(), None, True, BACKUP, "undo", "undo repair run d1"),
        (ledger(), dict(run_id="d1", rows_changed=20), True, BACKUP, "undo", "undo repair run d1"),
        # Nothing to put back.
        (ledger(), dict(run_id="d2", rows_changed=0), True, BACKUP, "none", "changed no row"),
        (
            dict(runs=[], undo=dict(possible=False, reason="the quarantine table app.q does not exist", ledger_readable=True)),
            None,
            True,
            BACKUP,
            "none",
            "changed no row",
        ),
        # The ledger could not be read (a lost connection): never a restore.
        (None, dict(run_id="d1", rows_changed=20), True, BACKUP, "stop", "could not be read"),
        (None, None, True, BACKUP, "stop", "could not be read"),
        # The quarantine is gone: the one case for the restore, if allowed and possible.
        (
            ledger(possible=False, reason="the quarantine table app.q does not exist"),
            dict(run_id="d1", rows_changed=20),
            True,
            BACKUP,
            "restore",
            "is impossible",
        ),
        (ledger(possible=False, reason="gone"), dict(run_id="d1", rows_changed=20), False, BACKUP, "stop", "fallback is off"),
        (ledger(possible=False, reason="gone"), dict(run_id="d1", rows_changed=20), True, None, "stop", "no backup_manifest"),
        # A result without rows_changed says nothing: the ledger decides.
        (ledger(possible=False, reason="gone"), dict(run_id="d1"), True, BACKUP, "restore", "is impossible"),
        # A broken ledger and no published result: whether this deploy changed a row is unknown.
        (dict(runs=[], undo=dict(possible=False, reason="unreadable", ledger_readable=False)), None, True, BACKUP, "stop", "unknown"),
    ],
)
def test_the_rollback_restores_only_when_the_undo_is_impossible(status, repair, fallback, backup, method, needle):
    plan = rollback_data_plan(status, "d2", repair, fallback, backup, "connection lost")
    assert plan["method"] == method and needle in plan["reason"], plan
