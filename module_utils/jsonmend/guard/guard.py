# The write guard of one target column: triggers that let a non-object write through and log it
# (observe) or refuse it (enforce), installed beside the application's own triggers (kept, and
# ordered before the guard), under a short metadata-lock wait, idempotent. What counts as a
# non-object is the scan's definition (dialect.classify_expr), so the guard and the scan agree.
# On PostgreSQL enforce is a CHECK constraint (NOT VALID, then VALIDATE CONSTRAINT) instead of triggers.
from __future__ import annotations

import datetime
import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db import inspector
from ansible.module_utils.jsonmend.db.connection import driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.dialects import GUARD_PREFIX
from ansible.module_utils.jsonmend.db.errors import JsonmendError
from ansible.module_utils.jsonmend.db.grants import missing_privileges, parse_grants, redact
from ansible.module_utils.jsonmend.db.identifiers import validate_identifier, validate_table

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ansible.module_utils.jsonmend.db.connection import Database

GUARDED_FLAVOURS = ("mariadb", "mysql", "postgresql")
PREFIX = GUARD_PREFIX  # every trigger (and constraint) the guard installs, and only those, starts with it
LOG_SUFFIX = "_jsonmend_guard_log"
MODES = ("observe", "enforce", "off", "status")
# How enforce refuses: BEFORE triggers (MySQL family's default, online) or a CHECK constraint
# (PostgreSQL's only way, online there; on MariaDB/MySQL on request: it copies the table).
ENFORCE_WITH = ("auto", "trigger", "constraint")
EVENTS = ("INSERT", "UPDATE")
# observe logs AFTER the write (the row's key is known, an AUTO_INCREMENT one too, and the value
# is final); enforce refuses BEFORE it, after the application's own BEFORE triggers.
TIMING = {"observe": "AFTER", "enforce": "BEFORE"}
CORRUPT_COUNT_CAP = 1000  # enforce's refusal needs to know there are some, not how many exactly
RECENT_EVENTS = 5
MARKER_RE = re.compile(r"/\* jsonmend guard: (observe|enforce) \*/")

GUARD_ARGUMENT_SPEC = dict(
    mode=dict(type="str", default="status", choices=list(MODES)),
    log_table=dict(type="str", default=""),
    value_chars=dict(type="int", default=200),
    lock_wait_timeout=dict(type="int", default=2),
    lock_retries=dict(type="int", default=3),
    force=dict(type="bool", default=False),
    enforce_with=dict(type="str", default="auto", choices=list(ENFORCE_WITH)),
    confirm_rebuild=dict(type="bool", default=False),
    since=dict(type="str", default=""),
    check_grants=dict(type="bool", default=True),
)


# Why json_guard (and the scan's read of the guard) refuses dialect=sqlite.
SQLITE_REFUSAL = "the guard installs triggers in MariaDB, MySQL or PostgreSQL, not in a sqlite file"


def run_guard(db: Database, params: Mapping[str, Any], check_mode: bool) -> dict[str, Any]:
    """json_guard's result: Guard(db, params) run in params["mode"], its warnings as `warnings_text`.
    json_guard and the scan's guard_status read (one connection for both) call this."""
    guard = Guard(db, params)
    result = guard.run(params["mode"], check_mode)
    result["warnings_text"] = guard.warnings
    return result


def trigger_name(mode: str, event: str, table: str, limit: int = 64) -> str:
    """jsonmend_guard_<mode>_<ins|upd>_<table>; the table hashed when the name would pass `limit`."""
    name = "%s%s_%s_%s" % (PREFIX, mode, event[:3].lower(), table)
    if len(name) <= limit:
        return name
    return "%s%s_%s_%s" % (PREFIX, mode, event[:3].lower(), hashlib.sha256(table.encode("utf-8")).hexdigest()[:24])


def constraint_name(column: str, limit: int = 63) -> str:
    """jsonmend_guard_<column>: enforce's CHECK constraint (PostgreSQL); the column hashed when too long."""
    name = PREFIX + column
    return name if len(name) <= limit else PREFIX + hashlib.sha256(column.encode("utf-8")).hexdigest()[:24]


def default_log_table(table: str) -> str:
    name = table + LOG_SUFFIX
    if len(name) > 64:
        raise JsonmendError("the default guard log table %s is longer than 64 characters: set log_table" % name)
    return name


def installed_mode(triggers: Sequence[Mapping[str, Any]], counts: Mapping[str, int] | None = None) -> str:
    """off, observe, enforce, or mixed (both, or one half only: an interrupted change) from jsonmend's triggers
    (and constraint); `counts`: the objects each mode installs (two triggers, unless the dialect says)."""
    ours = [t for t in triggers if t["name"].startswith(PREFIX)]
    if not ours:
        return "off"
    modes = set()
    for trigger in ours:
        found = MARKER_RE.search(trigger["body"])
        modes.add(found.group(1) if found else "unknown")
    mode = modes.pop() if len(modes) == 1 else "mixed"
    if len(ours) == (counts or {}).get(mode, len(EVENTS)):
        return mode
    return "mixed"


def parse_since(text: str) -> str | None:
    """'2026-12-01T00:00:00Z' or '2026-12-01 00:00:00' (UTC) as the log's datetime text; None for ''."""
    if not text:
        return None
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise JsonmendError("since=%r is not a UTC time like 2026-12-01T00:00:00Z" % text) from None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


class Guard:
    """The guard of database.table.column on one connection."""

    def __init__(self, db: Database, params: Mapping[str, Any]) -> None:
        self.db = db
        self.params = params
        if db.dialect.name not in GUARDED_FLAVOURS:
            # The dialect's guard methods are the MySQL family's until a flavour fills them (docs/DESIGN.md).
            raise JsonmendError("the guard is not implemented for %s (MariaDB, MySQL and PostgreSQL only); nothing was changed" % db.dialect.name)
        self.database = params["database"]
        self.table = validate_table(params["table"], "table", db.dialect.name)
        self.bare_table = self.table.rpartition(".")[2]  # trigger names hold the table's name, not its schema
        self.column = validate_identifier(params["column"], "column")
        self.key = validate_identifier(params["primary_key"], "primary_key")
        # On PostgreSQL the log sits in the table's schema (schema.table), like the repair's bookkeeping tables.
        log_table = params["log_table"] or db.dialect.sibling_table(self.table, default_log_table(self.bare_table))
        self.log_table = validate_table(log_table, "log_table", db.dialect.name)
        if not 1 <= params["value_chars"] <= 4096:
            raise JsonmendError("value_chars must be 1-4096 (got %s)" % params["value_chars"])
        if params["lock_wait_timeout"] < 1 or params["lock_retries"] < 1:
            raise JsonmendError("lock_wait_timeout and lock_retries must be 1 or more")
        desc = inspector.inspect_target(db, self.database, self.table, self.column, self.key)
        problems = inspector.column_problems(desc)
        if problems:
            raise JsonmendError("; ".join(problems))
        col = desc["column"]
        self.nullable = col["nullable"]
        self.spec = dict(
            table=self.table,
            column=self.column,
            key=self.key,
            native_json=col["native_json"],
            nullable=col["nullable"],
            log_table=self.log_table,
            value_chars=params["value_chars"],
        )
        self.native_json = col["native_json"]
        self.estimated_rows, self.table_bytes = desc["estimated_rows"], desc["table_bytes"]
        enforce_with = params.get("enforce_with") or "auto"
        if db.dialect.guard_enforce_by_constraint and enforce_with == "trigger":
            raise JsonmendError(
                "enforce_with=trigger is not offered on %s: enforce is a CHECK constraint there, added NOT VALID and validated"
                " online (enforce_with=auto or constraint). Nothing was changed" % db.dialect.name
            )
        self.by_constraint = db.dialect.guard_enforce_by_constraint or enforce_with == "constraint"
        self.warnings: list[str] = []

    # -- what is there, what should be -------------------------------------------------
    def triggers(self) -> list[dict[str, Any]]:
        cur = self.db.cursor()
        try:
            return self.db.dialect.trigger_details(cur, self.database, self.table)
        finally:
            cur.close()

    def wanted(self, mode: str, by_constraint: bool | None = None) -> dict[str, dict[str, str]]:
        """{name: timing, event, body} of the triggers (or the constraint: timing CHECK) `mode` installs."""
        if mode not in TIMING:
            return {}
        d = self.db.dialect
        if mode == "enforce" and (self.by_constraint if by_constraint is None else by_constraint):
            name = constraint_name(self.column, d.guard_name_limit)
            return {name: dict(timing="CHECK", event="INSERT OR UPDATE", body=d.guard_check_body(self.spec))}
        return dict(
            (
                trigger_name(mode, event, self.bare_table, d.guard_name_limit),
                dict(timing=TIMING[mode], event=event, body=d.guard_trigger_body(mode, event, self.spec)),
            )
            for event in EVENTS
        )

    def installed(self, objects: Sequence[Mapping[str, Any]]) -> str:
        # Enforce is one constraint or two triggers, whichever way it was installed.
        counts = dict(observe=len(EVENTS), enforce=1 if has_constraint(objects) else len(EVENTS))
        return installed_mode(objects, counts)

    def log_table_exists(self) -> bool:
        cur = self.db.cursor()
        try:
            # column_names, not columns: the log's columns must not become the target's kinds (PostgreSQL).
            columns = self.db.dialect.column_names(cur, self.database, self.log_table)
        finally:
            cur.close()
        expected = {"logged_at", "event", "row_key", "value_class", "value_length", "value_prefix", "connection_user"}
        if columns and not expected <= set(columns):
            raise JsonmendError("table %s.%s exists but is not a jsonmend guard log: set log_table to another name" % (self.database, self.log_table))
        return bool(columns)

    def plan(self, mode: str, triggers: Sequence[Mapping[str, Any]]) -> list[str]:
        """The DDL that takes the table from `triggers` to `mode`; [] when it is there already.

        New triggers are created before the old ones are dropped (observe -> enforce never leaves
        the column unguarded); one whose body changed (another value_chars, the column's
        nullability) is dropped and created again. An enforce constraint is validated after it
        is added NOT VALID, or when an earlier run left it unvalidated.
        """
        d = self.db.dialect
        wanted = self.wanted(mode)
        ours = dict((t["name"], t) for t in triggers if t["name"].startswith(PREFIX))
        creates, drops = [], []
        if mode == "observe" and not self.log_table_exists():
            creates.append(d.guard_log_table_sql(self.log_table))
        for name, want in wanted.items():
            have = ours.get(name)
            validate = d.guard_validate_sql(name, self.table) if want["timing"] == "CHECK" else None
            if have and d.guard_unchanged(have, want):
                if validate and have.get("validated") is False:
                    creates.append(validate)
                continue
            if have:
                creates.extend(d.guard_drop_sql(name, have["timing"], self.table))
            # After the application's own triggers of that timing and event: they keep their order.
            theirs = [t for t in triggers if not t["name"].startswith(PREFIX) and t["timing"] == want["timing"] and t["event"] == want["event"]]
            follows = max(theirs, key=lambda t: t["order"])["name"] if theirs else None
            creates.extend(d.guard_create_sql(name, want, self.table, follows))
            if validate:
                creates.append(validate)
        drops = [sql for name in sorted(ours) if name not in wanted for sql in d.guard_drop_sql(name, ours[name]["timing"], self.table)]
        return creates + drops

    # -- refusals ------------------------------------------------------------------------
    def check_grants(self, mode: str) -> str:
        """Refuse when SHOW GRANTS gives no privilege the DDL needs; the message names the GRANT."""
        if not self.params["check_grants"]:
            return "not checked (check_grants=false)"
        problems = self.db.dialect.guard_grant_problems(self.db, self.database, self.table, self.log_table, mode)
        if problems is not None:  # the dialect checks them itself (PostgreSQL: ownership, TRIGGER, CREATE)
            if problems:
                raise JsonmendError(
                    "the guard's DDL needs privileges this user lacks on %s. As an administrator run: %s;"
                    " or set check_grants=false if they come from a role this check cannot see. Nothing was changed" % (self.table, "; ".join(problems))
                )
            return "ok"
        lines, grants, user, name, host = self.grants()
        needed = [(self.table, [self.db.dialect.guard_privilege])]
        if mode == "observe":
            # The triggers run as their definer (this user): it writes the log.
            needed.append((self.log_table, ["CREATE", "INSERT"]))
        fixes = []
        for table, privileges in needed:
            missing = missing_privileges(grants, self.database, table, privileges)
            if missing:
                fixes.append("GRANT %s ON `%s`.`%s` TO '%s'@'%s'" % (", ".join(missing), self.database, table, name, host))
        if fixes:
            raise JsonmendError(
                "the guard's DDL needs privileges the user %s lacks (SHOW GRANTS: %s). As an administrator run: %s;"
                " or set check_grants=false if they come from a role this check cannot see. Nothing was changed"
                % (user, " | ".join(redact(line) for line in lines), "; ".join(fixes))
            )
        return "ok"

    def grants(self) -> tuple[list[str], list[Any], str, str, str]:
        """SHOW GRANTS of the connection: its lines, parsed, and CURRENT_USER() whole, name and host."""
        lines = [row[0] for row in self.db.query("SHOW GRANTS")]
        user = str((self.db.query_one("SELECT CURRENT_USER()") or ("?@%",))[0])
        name, host = user.rpartition("@")[::2]
        return lines, parse_grants(lines), user, name, host

    def hidden_triggers(self) -> str | None:
        """Why this user cannot see the table's triggers (None when it can, or the check is off).

        MariaDB and MySQL list a table's triggers in information_schema.TRIGGERS only to a user
        with the TRIGGER privilege on it: to a read-only user an installed guard looks off.
        """
        if not self.params["check_grants"] or not self.db.dialect.guard_triggers_need_privilege:
            return None
        grants, user, name, host = self.grants()[1:]
        if not missing_privileges(grants, self.database, self.table, ["TRIGGER"]):
            return None
        return (
            "the user %s lacks the TRIGGER privilege on %s.%s, without which the server hides the table's triggers"
            " (information_schema.TRIGGERS), so the guard's mode cannot be read. As an administrator run:"
            " GRANT TRIGGER ON `%s`.`%s` TO '%s'@'%s'; or set check_grants=false if it comes from a role this check cannot see"
            % (user, self.database, self.table, self.database, self.table, name, host)
        )

    def rebuild(self, mode: str, statements: Sequence[str]) -> str | None:
        """What adding enforce's constraint costs when it copies the table (MariaDB/MySQL), else None."""
        d = self.db.dialect
        if not (mode == "enforce" and self.by_constraint and d.guard_constraint_rebuilds):
            return None
        adds = [s for name, want in self.wanted(mode).items() for s in d.guard_create_sql(name, want, self.table)]
        if not any(s in statements for s in adds):
            return None
        return (
            "adding the CHECK constraint copies %s.%s (about %s rows, %s MB) with ALGORITHM=COPY, LOCK=SHARED: reads go on,"
            " writes to the table wait until the copy ends (about as long as an OPTIMIZE TABLE of it)"
            % (self.database, self.table, format(int(self.estimated_rows or 0), ","), format(int((self.table_bytes or 0) / 1048576), ","))
        )

    def corrupt_rows(self) -> int:
        """Rows the scan counts as corrupt (at most CORRUPT_COUNT_CAP: enforce needs none)."""
        d = self.db.dialect
        predicate = d.corrupt_predicate(d.q(self.column), self.native_json)
        row = self.db.query_one("SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d) AS c" % (d.q(self.table), predicate, CORRUPT_COUNT_CAP))
        return int(row[0]) if row else 0

    # -- doing it --------------------------------------------------------------------------
    def execute(self, statements: Sequence[str]) -> int:
        """Run the DDL, each statement under a short metadata-lock wait, retried; returns the attempts made."""
        d = self.db.dialect
        wait, retries = self.params["lock_wait_timeout"], self.params["lock_retries"]
        attempts = 0
        cur = self.db.cursor()
        try:
            # A trigger runs with the sql_mode it was created under: the guard's own.
            d.guard_sql_mode(cur)
            d.set_lock_wait(cur, wait)
            for done, statement in enumerate(statements):
                for attempt in range(1, retries + 1):
                    attempts += 1
                    try:
                        cur.execute(statement)
                        break
                    except driver_error_types() as exc:
                        code = d.guard_error_code(exc)
                        if code in d.lock_wait_errors and attempt < retries:
                            time.sleep(min(1.0, wait / 2.0))
                            continue
                        raise JsonmendError(self.explain(exc, code, statements[:done], attempt)) from None
        finally:
            cur.close()
        return attempts

    def explain(self, exc: Exception, code: Any, done: Sequence[str], attempt: int) -> str:
        where = "%s.%s" % (self.database, self.table)
        if done:
            after = " after %d of its statements (%s): run the guard again to finish, or mode=off to remove it" % (len(done), " | ".join(s[:80] for s in done))
        else:
            after = "; nothing was changed"
        if code in self.db.dialect.lock_wait_errors:
            return (
                "the guard could not get the metadata lock on %s within %ss, %d times (a long transaction or DDL holds the table;"
                " the application was never blocked longer than that): %s%s" % (where, self.params["lock_wait_timeout"], attempt, driver_message(exc), after)
            )
        if code in self.db.dialect.guard_privilege_errors:
            return (
                "the server refused the guard's trigger on %s: %s. The user needs GRANT TRIGGER ON `%s`.`%s`; with binary logging on,"
                " also SUPER or log_bin_trust_function_creators=1%s" % (where, driver_message(exc), self.database, self.table, after)
            )
        return "the guard's DDL on %s failed: %s%s" % (where, driver_message(exc), after)

    def events(self, since: str | None) -> dict[str, Any]:
        """What observe logged since `since` (all when None): counts by class and event, the newest few,
        `all_total` (every row the log holds: the weekly check's counter) and `checked_at`, the server's
        UTC time before the read (the next check's `since`: the log's times are the server's too)."""
        now = self.db.query_one("SELECT %s" % self.db.dialect.utc_now_sql())
        checked_at = iso(now[0]) if now else None
        if not self.log_table_exists():
            return dict(total=0, all_total=0, checked_at=checked_at, by_class={}, by_event={}, first=None, last=None, recent=[])
        log = self.db.dialect.q(self.log_table)
        where, args = ("WHERE logged_at >= %s", (since,)) if since else ("", ())
        rows = self.db.query("SELECT value_class, event, COUNT(*), MIN(logged_at), MAX(logged_at) FROM %s %s GROUP BY value_class, event" % (log, where), args)
        by_class: dict[str, int] = {}
        by_event: dict[str, int] = {}
        first = last = None
        for value_class, event, count, low, high in rows:
            by_class[value_class] = by_class.get(value_class, 0) + int(count)
            by_event[event] = by_event.get(event, 0) + int(count)
            first = low if first is None or low < first else first
            last = high if last is None or high > last else last
        recent = self.db.query(
            "SELECT logged_at, event, row_key, value_class, value_length, value_prefix, connection_user FROM %s %s ORDER BY id DESC LIMIT %d"
            % (log, where, RECENT_EVENTS),
            args,
        )
        names = ("logged_at", "event", "row_key", "value_class", "value_length", "value_prefix", "connection_user")
        total = sum(by_class.values())
        if since:
            row = self.db.query_one("SELECT COUNT(*) FROM %s" % log)
            all_total = int(row[0]) if row else 0
        else:
            all_total = total
        return dict(
            total=total,
            all_total=all_total,
            checked_at=checked_at,
            by_class=by_class,
            by_event=by_event,
            first=iso(first),
            last=iso(last),
            recent=[dict((k, iso(v)) for k, v in zip(names, row, strict=True)) for row in recent],
        )

    def run(self, mode: str, check_mode: bool) -> dict[str, Any]:
        """Take the guard to `mode` (or report it: status); the module's result."""
        hidden = self.hidden_triggers()
        if hidden and mode != "status":
            # Blind, off would find nothing to drop and observe or enforce install beside what is
            # there: refuse before any DDL, with every GRANT the mode needs.
            self.check_grants(mode)
            raise JsonmendError("guard %s refused: %s. Nothing was changed" % (mode, hidden))
        before = self.triggers()
        result: dict[str, Any] = dict(
            changed=False,
            mode=mode,
            installed_before="unknown" if hidden else self.installed(before),
            log_table=self.log_table,
            nullable=self.nullable,
            statements=[],
        )
        if hidden:
            self.warnings.append(hidden)
            result.update(
                installed="unknown",
                message=hidden,
                drifted=False,
                triggers=describe(before),
                since=self.params["since"] or None,
                events=self.events(parse_since(self.params["since"])),
            )
            return result
        if mode == "status":
            expected = self.wanted(result["installed_before"], has_constraint(before) or self.db.dialect.guard_enforce_by_constraint)
            ours = [t for t in before if t["name"].startswith(PREFIX)]
            result.update(
                installed=result["installed_before"],
                drifted=any(t["name"] not in expected or not self.db.dialect.guard_unchanged(t, expected[t["name"]]) for t in ours),
                triggers=describe(before),
                since=self.params["since"] or None,
                events=self.events(parse_since(self.params["since"])),
            )
            return result
        statements = self.plan(mode, before)
        if statements:
            result["grants"] = self.check_grants(mode)
        rebuild = self.rebuild(mode, statements)
        if rebuild:
            result["rebuild"] = rebuild
        if mode == "enforce" and statements:
            corrupt = self.corrupt_rows()
            result["corrupt_rows"] = corrupt
            if corrupt and rebuild:
                raise JsonmendError(
                    "enforce_with=constraint refused: %s%d row(s) of %s.%s are not JSON objects now, and %s checks every row when"
                    " the constraint is added, so force cannot apply. Repair them first (cleanup.yml), or use enforce_with=trigger"
                    " (new writes only). Nothing was changed"
                    % ("at least " if corrupt >= CORRUPT_COUNT_CAP else "", corrupt, self.table, self.column, self.db.dialect.name)
                )
            if corrupt and not self.params["force"]:
                raise JsonmendError(
                    "enforce refused: %s%d row(s) of %s.%s are not JSON objects now (the scan's definition); every UPDATE writing"
                    " such a value would fail. Repair them first (cleanup.yml), or set force=true. Nothing was changed"
                    % ("at least " if corrupt >= CORRUPT_COUNT_CAP else "", corrupt, self.table, self.column)
                )
            if corrupt:
                self.warnings.append("enforce installed with %d corrupt row(s) left (force=true)" % corrupt)
                # A constraint stays NOT VALID: new writes are checked, the rows already there are not.
                validates = [self.db.dialect.guard_validate_sql(name, self.table) for name in self.wanted(mode)]
                statements = [s for s in statements if s not in validates]
        result.update(statements=statements, changed=bool(statements))
        if rebuild and not check_mode and not self.params["confirm_rebuild"]:
            raise JsonmendError(
                "enforce_with=constraint refused without confirm_rebuild (playbook: -e jsonmend_confirm=yes): %s."
                " Or use enforce_with=trigger, which needs no copy. Nothing was changed" % rebuild
            )
        if rebuild and check_mode:
            self.warnings.append("the constraint copies the table when added: %s; the real run needs confirm_rebuild" % rebuild)
        if check_mode or not statements:
            result.update(installed=mode if statements else result["installed_before"], triggers=describe(before), check_mode=check_mode)
            return result
        result["lock_attempts"] = self.execute(statements)
        after = self.triggers()
        result.update(installed=self.installed(after), triggers=describe(after))
        return result


def has_constraint(objects: Sequence[Mapping[str, Any]]) -> bool:
    """Whether jsonmend's enforce is installed as a CHECK constraint among `objects`."""
    return any(t["name"].startswith(PREFIX) and t["timing"] == "CHECK" for t in objects)


def describe(triggers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The table's triggers for the result, jsonmend's marked (bodies left out: they are long)."""
    return [
        dict(
            dict(name=t["name"], timing=t["timing"], event=t["event"], order=t["order"], jsonmend=t["name"].startswith(PREFIX)),
            **({"validated": t["validated"]} if "validated" in t else {}),
        )
        for t in triggers
    ]


def iso(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
