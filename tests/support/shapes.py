# Table shapes real Django/MariaDB deployments have, for the shape matrix: nullability, column
# types (longtext with and without CHECK (json_valid), the JSON alias, TEXT, a narrow VARCHAR),
# character sets, triggers, ON UPDATE timestamps, foreign keys both ways, generated columns and
# a varchar primary key. Each shape builds its table and fills it with the same small set of
# values; snapshot() and the checks say what must hold after scan, repair and undo.
from __future__ import annotations

import json

TABLE = "events"

# (text, kind under the application's decoder); every value fits every shape (ASCII or Latin-1,
# at most 20 characters). SQL NULL rows are added where the column is nullable.
VALUES = [
    ('{"a": 1}', "OBJECT"),
    ('{"k": "caf\u00e9"}', "OBJECT"),
    ("42", "INTEGER"),
    ("3.5", "DOUBLE"),
    ('"text"', "STRING"),
    ("[1, 2]", "ARRAY"),
    ("true", "BOOLEAN"),
    ("null", "NULL"),
    ('"{\\"a\\": 1}"', "STRING+OBJECT"),
    ("not json", "INVALID"),
    ('{"a": 1', "INVALID"),
    ('{"a": 1.}', "UNREADABLE OBJECT"),
    ('{"a": NaN}', "READABLE OBJECT"),
]
HEALTHY = ("OBJECT", "SQL NULL", "READABLE OBJECT")


class Shape:
    """One table shape: the column's definition and what surrounds it."""

    def __init__(self, name, column="longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", nullable=True, check=False, **extra):
        self.name = name
        self.column = column
        self.charset = "latin1" if "latin1" in column else "utf8mb4"
        self.nullable = nullable
        self.check = check
        self.trigger = extra.get("trigger", False)
        self.on_update = extra.get("on_update", False)
        self.foreign_keys = extra.get("foreign_keys", False)
        self.generated = extra.get("generated", False)
        self.varchar_key = extra.get("varchar_key", False)

    def __repr__(self):
        return self.name

    def rows(self):
        """[(key, text)] for this shape (SQL NULL only where the column takes it)."""
        values = [v for v, _k in VALUES] + ([None] if self.nullable else [])
        return [(self.key(i + 1), v) for i, v in enumerate(values)]

    def key(self, n):
        return "ev-%03d" % n if self.varchar_key else n

    def kinds(self):
        table = dict(VALUES)
        return dict((key, "SQL NULL" if v is None else table[v]) for key, v in self.rows())

    def create(self, cur):
        cur.execute("DROP TABLE IF EXISTS event_notes")
        cur.execute("DROP TABLE IF EXISTS `%s`" % TABLE)
        cur.execute("DROP TABLE IF EXISTS app_users")
        key = "`id` varchar(36) NOT NULL" if self.varchar_key else "`id` bigint NOT NULL AUTO_INCREMENT"
        column = "`metadata` %s %s%s" % (self.column, "NULL" if self.nullable else "NOT NULL", " CHECK (json_valid(`metadata`))" if self.check else "")
        parts = [key, "`user_id` int NOT NULL", column, "`created_at` datetime(6) NOT NULL"]
        if self.on_update:
            parts.append("`updated_at` timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)")
        if self.generated:
            parts.append("`meta_length` int AS (LENGTH(`metadata`)) VIRTUAL")
            parts.append("`user_bucket` int AS (`user_id` MOD 10) STORED")
        parts.append("PRIMARY KEY (`id`)")
        if self.foreign_keys:
            cur.execute("CREATE TABLE app_users (id int PRIMARY KEY) ENGINE=InnoDB")
            cur.execute("INSERT INTO app_users VALUES (1), (2), (3)")
            parts.append("CONSTRAINT `events_user` FOREIGN KEY (`user_id`) REFERENCES app_users (`id`)")
        cur.execute("CREATE TABLE `%s` (%s) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" % (TABLE, ", ".join(parts)))
        if self.foreign_keys:
            key_type = "varchar(36)" if self.varchar_key else "bigint"
            cur.execute(
                "CREATE TABLE event_notes (id int PRIMARY KEY AUTO_INCREMENT, event_id %s NOT NULL,"
                " CONSTRAINT notes_event FOREIGN KEY (event_id) REFERENCES `%s` (`id`) ON DELETE CASCADE ON UPDATE CASCADE) ENGINE=InnoDB" % (key_type, TABLE)
            )
        if self.trigger:
            # An application's guard that turns SQL NULL into the empty object on every update.
            cur.execute(
                "CREATE TRIGGER events_no_null BEFORE UPDATE ON `%s` FOR EACH ROW BEGIN"
                " IF NEW.metadata IS NULL THEN SET NEW.metadata = '{}'; END IF; END" % TABLE
            )

    def fill(self, cur):
        cur.execute("SET SESSION check_constraint_checks = 0")
        try:
            for n, (key, value) in enumerate(self.rows()):
                columns = "`user_id`, `metadata`, `created_at`" + (", `updated_at`" if self.on_update else "")
                values = [1 + n % 3, value, "2026-11-02 10:00:00"] + (["2026-11-02 10:00:00"] if self.on_update else [])
                if self.varchar_key:
                    columns = "`id`, " + columns
                    values = [key] + values
                cur.execute("INSERT INTO `%s` (%s) VALUES (%s)" % (TABLE, columns, ", ".join(["%s"] * len(values))), values)
                if self.foreign_keys:
                    cur.execute("INSERT INTO event_notes (event_id) SELECT id FROM `%s` WHERE `metadata` <=> %%s LIMIT 1" % TABLE, (value,))
        finally:
            cur.execute("SET SESSION check_constraint_checks = 1")


SHAPES = [
    Shape("longtext NULL"),
    Shape("longtext NOT NULL CHECK (Django)", nullable=False, check=True),
    Shape("longtext NULL CHECK", check=True),
    Shape("JSON alias NULL", column="json"),
    Shape("JSON alias NOT NULL", column="json", nullable=False),
    Shape("TEXT NULL", column="text CHARACTER SET utf8mb4"),
    Shape("VARCHAR(20) NOT NULL", column="varchar(20) CHARACTER SET utf8mb4", nullable=False),
    Shape("utf8mb3 NULL", column="longtext CHARACTER SET utf8mb3"),
    Shape("latin1 NOT NULL", column="mediumtext CHARACTER SET latin1", nullable=False),
    Shape("BEFORE UPDATE trigger", trigger=True),
    Shape("ON UPDATE timestamp NOT NULL", nullable=False, on_update=True),
    Shape("foreign keys both ways", foreign_keys=True),
    Shape("generated columns", generated=True),
    Shape("varchar primary key", varchar_key=True),
]


def snapshot(cur, shape):
    """{key: {column: bytes or None}} of every stored column, and the notes' rows (exact bytes)."""
    cur.execute(
        "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND EXTRA NOT LIKE '%%GENERATED%%'", (TABLE,)
    )
    columns = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT %s FROM `%s`" % (", ".join("CAST(`%s` AS BINARY)" % c for c in columns), TABLE))
    rows = {}
    for row in cur.fetchall():
        values = dict(zip(columns, [None if v is None else bytes(v) for v in row], strict=True))
        rows[values["id"].decode()] = values
    notes = None
    if shape.foreign_keys:
        cur.execute("SELECT id, CAST(event_id AS BINARY) FROM event_notes ORDER BY id")
        notes = cur.fetchall()
    return dict(rows=rows, notes=notes)


def reads_object(raw, charset="utf8mb4"):
    """Does the application read these column bytes as an object (decoded as the column's charset)?"""
    if isinstance(raw, bytes):
        raw = raw.decode("latin-1" if charset == "latin1" else "utf-8")
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False
