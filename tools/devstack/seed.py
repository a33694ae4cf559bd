# Build analytics_activityevent the way Django does on MariaDB, and fill it with a
# chosen number of rows and corruption mix. Used by the tests, the demo and the benchmark.
from __future__ import annotations

import argparse
import sys

EVENT_TYPES = (
    "quiz_answer_submitted",
    "quiz_completed",
    "content_viewed",
    "lesson_started",
    "lesson_completed",
    "login",
)

# Corrupt kinds and their share of the corrupt rows; `invalid` only where no CHECK guards the column.
DEFAULT_MIX = {
    "integer": 35,
    "double": 20,
    "string": 10,
    "double_encoded": 15,
    "array": 10,
    "json_null": 5,
    "boolean": 5,
}

# One SQL expression per kind, fed by a hash `h` of the row number.
KIND_SQL = {
    "integer": "CAST(h MOD 1000 AS CHAR)",
    "double": "CONCAT(h MOD 100, '.', h MOD 10, '5')",
    "string": "JSON_QUOTE(CONCAT('answer_', h MOD 7))",
    "double_encoded": "JSON_QUOTE(JSON_OBJECT('question_id', h MOD 5000, 'score', h MOD 10))",
    "array": "JSON_ARRAY(h MOD 10, h MOD 7, 'x')",
    "json_null": "'null'",
    "boolean": "IF(h MOD 2, 'true', 'false')",
    "invalid": "CONCAT('{\"question_id\": ', h MOD 5000)",
}

# ~200-byte object, the shape of a quiz event's metadata.
OBJECT_SQL = (
    "JSON_OBJECT('question_id', h MOD 5000, 'answer', ELT(1 + h MOD 4, 'option_a', 'option_b', 'option_c', 'option_d'),"
    " 'correct', IF(h MOD 3, true, false), 'time_spent_ms', h MOD 90000, 'attempt', 1 + h MOD 3,"
    " 'session', MD5(h), 'client', ELT(1 + h MOD 3, 'web', 'ios', 'android'), 'tags', JSON_ARRAY('algebra', 'practice'))"
)


def create_table(cur, table="analytics_activityevent", check=True, engine="InnoDB"):
    """CREATE TABLE exactly as Django's JSONField migration does on MariaDB (check=False: a raw-SQL table)."""
    cur.execute("DROP TABLE IF EXISTS `%s`" % table)
    constraint = " CHECK (json_valid(`metadata`))" if check else ""
    cur.execute(
        "CREATE TABLE `%s` ("
        " `id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " `user_id` integer NOT NULL,"
        " `event_type` varchar(64) NOT NULL,"
        " `metadata` longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL%s,"
        " `created_at` datetime(6) NOT NULL,"
        " KEY `%s_user_id` (`user_id`),"
        " KEY `%s_created_at` (`created_at`)"
        ") ENGINE=%s DEFAULT CHARSET=utf8mb4" % (table, constraint, table[:40], table[:40], engine)
    )


def insert_rows(cur, rows, table="analytics_activityevent"):
    """Insert (user_id, event_type, metadata text or None, created_at) tuples, bypassing the CHECK."""
    cur.execute("SET SESSION check_constraint_checks = 0")
    try:
        cur.executemany(
            "INSERT INTO `%s` (user_id, event_type, metadata, created_at) VALUES (%%s, %%s, %%s, %%s)" % table,
            rows,
        )
    finally:
        cur.execute("SET SESSION check_constraint_checks = 1")


def seed(
    cur,
    rows,
    corrupt_percent=1.0,
    null_percent=10.0,
    mix=None,
    table="analytics_activityevent",
    invalid=False,
    days=120,
    users=5000,
    start="2026-07-01",
    salt=1,
    batch=500000,
    corrupt_span=None,
):
    """Append `rows` generated rows on the server (sequence engine): fast and deterministic.

    Corruption starts a third of the way in (a bad deploy) and is spread over the event types,
    most of it in quiz_answer_submitted, as the runbook's example shows. `corrupt_span` (a pair of
    fractions of the new rows) moves it: (0, 1) spreads it through the table, (0.45, 0.5) concentrates it in
    one key range; `corrupt_percent` applies inside the span.
    """
    mix = dict(mix or DEFAULT_MIX)
    if invalid:
        mix.setdefault("invalid", 5)
    total_weight = sum(mix.values())
    kind_cases, acc = [], 0
    for kind, weight in mix.items():
        acc += weight
        kind_cases.append("WHEN k < %d THEN %s" % (acc * 10000 // total_weight, KIND_SQL[kind]))
    corrupt_value = "CASE %s ELSE %s END" % (" ".join(kind_cases), KIND_SQL["integer"])
    corrupt_cut = int(corrupt_percent * 100)  # per 10,000
    null_cut = corrupt_cut + int(null_percent * 100)
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM `%s`" % table)
    offset = cur.fetchone()[0]
    event_sql = "ELT(1 + (h DIV 7) MOD %d, %s)" % (len(EVENT_TYPES), ", ".join("'%s'" % e for e in EVENT_TYPES))
    # Corrupt rows lean to quiz_answer_submitted (half), quiz_completed and content_viewed.
    corrupt_event_sql = "ELT(1 + (h DIV 7) MOD 10, %s)" % ", ".join(
        "'%s'" % e for e in ["quiz_answer_submitted"] * 5 + ["quiz_completed"] * 2 + ["content_viewed"] * 2 + ["lesson_completed"]
    )
    cur.execute("SET SESSION check_constraint_checks = 0")
    try:
        done = 0
        while done < rows:
            n = min(batch, rows - done)
            first = offset + done + 1
            cur.execute(
                "INSERT INTO `{t}` (user_id, event_type, metadata, created_at)"
                " SELECT 1 + h MOD {users},"
                " IF(c < {cc} AND s > {third} AND s <= {upto}, {cev}, {ev}),"
                " IF(c < {cc} AND s > {third} AND s <= {upto}, {bad}, IF(c < {nc}, NULL, {obj})),"
                " TIMESTAMP('{start}') + INTERVAL FLOOR((s - 1) * {span} / {total}) SECOND"
                " FROM (SELECT seq AS s, CRC32(CONCAT({salt}, ':', seq)) AS h,"
                "       CRC32(CONCAT({salt}, ':c:', seq)) MOD 10000 AS c,"
                "       CRC32(CONCAT({salt}, ':k:', seq)) MOD 10000 AS k"
                "       FROM seq_{a}_to_{b}) g".format(
                    t=table,
                    users=users,
                    cc=corrupt_cut,
                    nc=null_cut,
                    third=offset + (int(rows * corrupt_span[0]) if corrupt_span else rows // 3),
                    upto=offset + (int(rows * corrupt_span[1]) if corrupt_span else rows),
                    cev=corrupt_event_sql,
                    ev=event_sql,
                    bad=corrupt_value,
                    obj=OBJECT_SQL,
                    start=start,
                    span=days * 86400,
                    total=offset + rows,
                    salt=salt,
                    a=first,
                    b=first + n - 1,
                )
            )
            done += n
    finally:
        cur.execute("SET SESSION check_constraint_checks = 1")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Create and seed analytics_activityevent on a MariaDB server.")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--user", default="root")
    parser.add_argument("--database", required=True)
    parser.add_argument("--table", default="analytics_activityevent")
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--corrupt-percent", type=float, default=1.0)
    parser.add_argument("--no-check", action="store_true", help="create the column without CHECK (json_valid) and add invalid text")
    args = parser.parse_args(argv)
    import pymysql

    conn = pymysql.connect(unix_socket=args.socket, user=args.user, autocommit=True, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS `%s`" % args.database)
        cur.execute("USE `%s`" % args.database)
        create_table(cur, args.table, check=not args.no_check)
        seed(cur, args.rows, corrupt_percent=args.corrupt_percent, table=args.table, invalid=args.no_check)
        cur.execute("SELECT COUNT(*) FROM `%s`" % args.table)
        print("seeded %s.%s with %d rows" % (args.database, args.table, cur.fetchone()[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
