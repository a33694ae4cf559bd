# What the fleet tests share: the variables of a rollout, a target's own scan, a digest of its table.
import hashlib

import json_type_scan


def table_of(target):
    """A devstack fleet target's table (name, server, rows, corrupt percent, table or None)."""
    return target[4] or "analytics_activityevent"


def rollout_vars(base, **extra):
    """The variables of a fleet rollout that writes under `base`, confirmed once (no question)."""
    values = dict(
        jsonmend_report_dir=str(base / "reports"),
        backup_dir=str(base / "backups"),
        backup_create_dir=True,
        cleanup_control_dir=str(base / "control"),
        jsonmend_confirm="yes",
    )
    values.update(extra)
    return values


def own_scan(module_runner, servers, target):
    """The target's own json_type_scan, as a single-database diagnosis would run it."""
    args = dict(servers[target[1]].login_params("jsonmend_%s" % target[0]), table=table_of(target), column="metadata")
    result = module_runner(json_type_scan, args)
    assert not result.failed, result
    return result


def content(servers, target):
    """A digest of a MariaDB target table's keys and JSON values: equal means not one value changed."""
    with servers[target[1]].admin_cursor("jsonmend_%s" % target[0]) as cur:
        cur.execute("SELECT id, metadata FROM `%s` ORDER BY id" % table_of(target))
        return hashlib.sha256(repr(cur.fetchall()).encode()).hexdigest()
