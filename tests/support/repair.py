# Helpers for the repair tests: full module parameters, the table's exact bytes, the
# quarantine's content, per-row checksums, and the module run as a killable subprocess.
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ansible.module_utils.jsonmend.db.errors import JsonmendError  # noqa: F401  (re-exported for the tests)

from tools.devstack import seed

ROOT = Path(__file__).resolve().parents[2]
TABLE = "analytics_activityevent"
QUARANTINE = TABLE + "_jsonmend_quarantine"
RUNS = TABLE + "_jsonmend_runs"


def repair_params(mariadb, database, **extra):
    """Module parameters with every default filled in, as AnsibleModule would pass them."""
    import json_type_repair
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    args = mariadb.login_params(database)
    args.update(extra)
    result = ArgumentSpecValidator(json_type_repair.argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def execute(mariadb, database, check_mode=False, diff=False, **extra):
    """json_type_repair's work without AnsibleModule: safe to call from several threads."""
    import json_type_repair

    return json_type_repair.execute(repair_params(mariadb, database, **extra), check_mode=check_mode, diff=diff)


def scan(mariadb, database, **extra):
    """json_type_scan's work without AnsibleModule, with every default filled in."""
    import json_type_scan
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    args = mariadb.login_params(database)
    args.update(extra)
    result = ArgumentSpecValidator(json_type_scan.argument_spec()).validate(args)
    assert not result.error_messages, result.error_messages
    return json_type_scan.scan(result.validated_parameters)


def fill(cur, values, check=True, table=TABLE, group="quiz_completed"):
    """Create the Django-shaped table and insert one row per value (text or None), ids 1..n."""
    seed.create_table(cur, table=table, check=check)
    seed.insert_rows(cur, [(i % 5 + 1, group, value, "2026-11-%02d 10:00:00" % (i % 27 + 1)) for i, value in enumerate(values)], table=table)


def column_bytes(cur, table=TABLE, column="metadata"):
    """{id: exact bytes of the column, or None for SQL NULL}."""
    cur.execute("SELECT id, CAST(`%s` AS BINARY) FROM `%s` ORDER BY id" % (column, table))
    return dict((row[0], None if row[1] is None else bytes(row[1])) for row in cur.fetchall())


def checksum(cur, table=TABLE):
    cur.execute("CHECKSUM TABLE `%s` EXTENDED" % table)
    return cur.fetchone()[1]


def row_crcs(cur, table=TABLE):
    """{id: CRC32 of the whole row}: compares untouched rows across runs."""
    cur.execute(
        "SELECT id, CRC32(CONCAT_WS('|', id, user_id, event_type, IFNULL(HEX(metadata), 'SQLNULL'), created_at)) FROM `%s`" % table,
    )
    return dict(cur.fetchall())


def quarantine(cur, run_id=None, table=QUARANTINE):
    """{row_pk: {original, new, type, action, run_id, undone}} (bytes as stored)."""
    sql = "SELECT row_pk, original_value, new_value, json_type, action, run_id, undone_at FROM `%s`" % table
    args = ()
    if run_id:
        sql += " WHERE run_id = %s"
        args = (run_id,)
    cur.execute("SHOW TABLES LIKE %s", (table,))
    if not cur.fetchall():
        return {}
    cur.execute(sql, args)
    out = {}
    for pk, original, new, kind, action, run, undone in cur.fetchall():
        out[pk] = dict(
            original=None if original is None else bytes(original),
            new=None if new is None else bytes(new),
            type=kind,
            action=action,
            run_id=run,
            undone=undone is not None,
        )
    return out


def classes(cur, database, table=TABLE):
    """{id: class label} by the scan's own classification SQL."""
    import ansible.module_utils.jsonmend.db.dialects as dialects

    expr = dialects.MariaDB().classify_expr("`metadata`")
    cur.execute("SELECT id, %s FROM `%s`.`%s`" % (expr, database, table))
    return dict(cur.fetchall())


def module_args(mariadb, database, **extra):
    args = mariadb.login_params(database)
    args.update(extra)
    return args


def spawn(module, args, tmp_path, name="args"):
    """Start `module` in its own process (tests.support.run_module); returns the Popen."""
    path = Path(tmp_path) / ("%s-%d.json" % (name, os.getpid()))
    path.write_text(json.dumps(args))
    path.chmod(0o600)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.run_module", module, str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process, timeout=120):
    """Wait for a spawned module; return (rc, parsed result or None, stderr)."""
    out, err = process.communicate(timeout=timeout)
    try:
        result = json.loads(out) if out.strip() else None
    except ValueError:
        result = None
    return process.returncode, result, err
