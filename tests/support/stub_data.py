# Stand-ins for the backup (issue 3) and cleanup (issue 4) roles' data work, so the deploy
# tests can drive strategies B, C and D end to end on the real database before those roles
# exist. Deliberately simple: rows in a JSON file, the seed's NULL cleanup, exact undo.
#
#   python stub_data.py backup|restore|cleanup|undo PARAMS_JSON STATE_DIR   -> one JSON line
from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pymysql

NOT_OBJECT = "metadata IS NOT NULL AND NOT (JSON_VALID(metadata) AND JSON_TYPE(metadata) <=> 'OBJECT')"


def connect(params):
    return pymysql.connect(
        host=params["host"],
        port=int(params["port"]),
        user=params["user"],
        password=params["password"],
        database=params["database"],
        autocommit=False,
        charset="utf8mb4",
    )


def checksum(cur, table):
    cur.execute("CHECKSUM TABLE `%s` EXTENDED" % table)
    return cur.fetchone()[1]


def backup(conn, table, state):
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        cur.execute("SELECT id, user_id, event_type, metadata, CAST(created_at AS CHAR) FROM `%s` ORDER BY id" % table)
        rows = [list(r) for r in cur.fetchall()]
        conn.rollback()
        total = checksum(cur, table)
    backup_id = "stub-%s" % uuid.uuid4().hex[:8]
    (state / ("%s.json" % backup_id)).write_text(json.dumps(rows))
    return dict(id=backup_id, scope="table", tables=[table], rows=len(rows), checksum=total, verified=True, file=str(state / ("%s.json" % backup_id)))


def restore(conn, table, state, backup_id):
    rows = json.loads((state / ("%s.json" % backup_id)).read_text())
    with conn.cursor() as cur:
        cur.execute("SET SESSION check_constraint_checks = 0")
        cur.execute("DELETE FROM `%s`" % table)
        cur.executemany("INSERT INTO `%s` (id, user_id, event_type, metadata, created_at) VALUES (%%s, %%s, %%s, %%s, %%s)" % table, rows)
        conn.commit()
        return dict(backup_id=backup_id, rows=len(rows), checksum=checksum(cur, table))


def cleanup(conn, table, state):
    run_id = "stubrepair-%s" % uuid.uuid4().hex[:8]
    with conn.cursor() as cur:
        cur.execute("SELECT id, metadata FROM `%s` WHERE %s FOR UPDATE" % (table, NOT_OBJECT))
        before = [list(r) for r in cur.fetchall()]
        (state / ("%s.json" % run_id)).write_text(json.dumps(before))
        cur.execute("UPDATE `%s` SET metadata = NULL WHERE %s" % (table, NOT_OBJECT))
        conn.commit()
    return dict(run_id=run_id, changed=len(before), by_action={"null": len(before)})


def undo(conn, table, state, run_id):
    before = json.loads((state / ("%s.json" % run_id)).read_text())
    with conn.cursor() as cur:
        cur.execute("SET SESSION check_constraint_checks = 0")
        restored = 0
        for key, value in before:
            restored += cur.execute("UPDATE `%s` SET metadata = %%s WHERE id = %%s AND metadata IS NULL" % table, (value, key))
        conn.commit()
    return dict(run_id=run_id, restored=restored)


def main(argv):
    action, params_file, state_dir = argv[:3]
    params = json.loads(Path(params_file).read_text())
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    table = params.get("table", "analytics_activityevent")
    conn = connect(params)
    try:
        if action == "backup":
            out = backup(conn, table, state)
        elif action == "restore":
            out = restore(conn, table, state, argv[3])
        elif action == "cleanup":
            out = cleanup(conn, table, state)
        elif action == "undo":
            out = undo(conn, table, state, argv[3])
        else:
            raise SystemExit("unknown action %s" % action)
    finally:
        conn.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
