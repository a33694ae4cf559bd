#!/usr/bin/python
# The write guard of the target column (module_utils/jsonmend/guard/guard.py): install, change,
# remove or report the triggers that log (observe) or refuse (enforce) a non-object write.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: json_guard
short_description: Guard a JSON column in the database itself (observe or refuse non-object writes)
description:
  - Installs, changes or removes row triggers on the table that judge every written value of the column
    with the scan's definition (an object, or SQL NULL when the column allows it; a number, string, array,
    a double-encoded object or invalid text is not).
  - V(observe) lets the write through and logs it (UTC time, INSERT or UPDATE, the row's key, the value's class,
    its length and first O(value_chars) characters, and the connection's user@host) in O(log_table)
    (AFTER triggers, so an AUTO_INCREMENT key is known). A log row that cannot be written never fails the write.
  - "V(enforce) refuses it (BEFORE triggers, SIGNAL SQLSTATE 45000) with the message
    C(jsonmend guard: <table>.<column> must be a JSON object or NULL (rule: object), got <class>).
    Refused while rows of the column are corrupt now, unless O(force)."
  - An UPDATE that leaves the column unchanged is never judged.
  - V(off) drops the triggers jsonmend installed (named C(jsonmend_guard_...)) and keeps the log;
    V(status) reports the mode installed and the writes logged since O(since).
  - MariaDB and MySQL show a table's triggers only to a user with the TRIGGER privilege on it. Without it (read from
    SHOW GRANTS, unless O(check_grants=false)) V(status) reports the mode V(unknown), naming the GRANT, rather than
    an V(off) it cannot know; V(observe), V(enforce) and V(off) are refused, nothing changed.
  - The application's own triggers are kept; the guard's fire after theirs (FOLLOWS). Each DDL statement waits
    at most O(lock_wait_timeout) seconds for the table's metadata lock, O(lock_retries) times, so the
    application's queries never queue behind it for longer. Installing what is installed changes nothing.
  - The triggers run as their definer, the connected user; dropping that user makes every write to the table
    fail, so set the guard V(off) first.
  - "PostgreSQL (json and jsonb columns): V(observe) is an AFTER INSERT and an AFTER UPDATE trigger, each calling its own
    plpgsql function (named as the trigger, in the table's schema); V(enforce) is the constraint
    C(jsonmend_guard_<column> CHECK (<column> IS NULL OR jsonb_typeof(<column>) = 'object')) (json_typeof on json;
    no IS NULL on a NOT NULL column), added NOT VALID (a brief lock, under O(lock_wait_timeout) as lock_timeout) and
    then validated with VALIDATE CONSTRAINT, which reads the rows without blocking writes. A refused write fails with
    the server's C(violates check constraint \"jsonmend_guard_<column>\") (SQLSTATE 23514). With O(force) over corrupt
    rows the constraint stays NOT VALID (new writes checked, the old rows not); V(enforce) again once they are
    repaired validates it. A text column is refused (nothing in SQL parses text without failing the write)."
  - "MariaDB and MySQL, on request (O(enforce_with=constraint)): V(enforce) as the constraint C(jsonmend_guard_<column>)
    instead of triggers - on MySQL 8.0.16+ with a native JSON column C(CHECK (JSON_TYPE(<column>) = 'OBJECT')), which reads
    the binary form with no trigger per write; elsewhere the scan's classification in a CHECK. Adding it copies the
    table (C(ALGORITHM=COPY, LOCK=SHARED): reads go on, writes wait for the copy), so it needs O(confirm_rebuild) and no
    corrupt row (the server checks every row; O(force) cannot apply). A refused write fails with the server's
    C(CONSTRAINT `jsonmend_guard_<column>` failed) (MariaDB 4025) or C(Check constraint ... is violated) (MySQL 3819).
    V(off) drops it (C(DROP CONSTRAINT) on MariaDB, C(DROP CHECK) on MySQL: no copy)."
version_added: "0.3.0"
author: jsonmend maintainers (@jsonmend)
extends_documentation_fragment:
  - jsonmend_connection
  - jsonmend_target
options:
  mode:
    description: V(observe), V(enforce), V(off) or V(status).
    type: str
    choices: [observe, enforce, "off", status]
    default: status
  log_table:
    description: The log of V(observe); empty means C(<table>_jsonmend_guard_log).
    type: str
    default: ""
  value_chars:
    description: Characters of an observed value kept in the log (1-4096).
    type: int
    default: 200
  lock_wait_timeout:
    description: Seconds each DDL statement waits for the table's metadata lock before it gives up (and retries).
    type: int
    default: 2
  lock_retries:
    description: Attempts per DDL statement at getting the metadata lock.
    type: int
    default: 3
  force:
    description: Install V(enforce) although rows of the column are corrupt now (their updates that keep the column are still allowed).
    type: bool
    default: false
  enforce_with:
    description:
      - How V(enforce) refuses. V(auto) - BEFORE triggers on MariaDB and MySQL, the CHECK constraint on PostgreSQL.
      - V(trigger) - BEFORE triggers (MariaDB and MySQL only); V(constraint) - a CHECK constraint (see the description).
      - V(off) and V(status) find either kind.
    type: str
    choices: [auto, trigger, constraint]
    default: auto
  confirm_rebuild:
    description:
      - Allow O(enforce_with=constraint) to copy the table on MariaDB or MySQL (the operator's yes; the refusal says the
        table's size). Not needed in check mode, which only shows the DDL, nor on PostgreSQL.
    type: bool
    default: false
  since:
    description: V(status) - count the writes logged since this UTC time (C(2026-12-01T00:00:00Z)); empty counts all.
    type: str
    default: ""
  check_grants:
    description:
      - Refuse up front when SHOW GRANTS gives no TRIGGER privilege on the table (and CREATE, INSERT on the log for V(observe)).
      - On PostgreSQL, when the user does not own the table and (observe) lacks TRIGGER on it or CREATE on its schema.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Returns the DDL it would run (RV(statements)) and changes nothing; the refusals still apply.
  diff_mode:
    support: none
    description: RV(statements) is the change.
requirements:
  - PyMySQL (MariaDB and MySQL) or psycopg 3 (PostgreSQL) on the host that runs the module
notes:
  - Needs the TRIGGER privilege on the table (C(GRANT TRIGGER ON db.table TO user)); with binary logging on, MariaDB and MySQL
    also want SUPER or C(log_bin_trust_function_creators=1). On PostgreSQL observe needs TRIGGER on the table and CREATE on
    its schema, enforce the table's owner (or membership in the owner's role); the refusal names the GRANT.
  - An undo of a repair writes the old corrupt values back; V(enforce) refuses them, so set the guard V(off) (or V(observe)) first.
"""

EXAMPLES = r"""
- name: Log non-object writes to the column
  ansible.legacy.json_guard:
    database: app
    table: analytics_activityevent
    column: metadata
    mode: observe

- name: Refuse them (once the table is clean)
  ansible.legacy.json_guard:
    database: app
    mode: enforce

- name: Refuse them with a CHECK constraint instead (MySQL 8, native JSON; copies the table)
  ansible.legacy.json_guard:
    database: app
    mode: enforce
    enforce_with: constraint
    confirm_rebuild: true

- name: What the guard saw this week
  ansible.legacy.json_guard:
    database: app
    mode: status
    since: "2026-11-30T00:00:00Z"
  register: guard
"""

RETURN = r"""
mode:
  description: The mode asked for.
  returned: always
  type: str
  sample: enforce
installed_before:
  description:
    - The guard found - off, observe, enforce, or mixed (an interrupted change; run again).
    - V(unknown) (V(status) only) when the user lacks the TRIGGER privilege on the table, without which MariaDB
      and MySQL hide its triggers; RV(message) names the GRANT. The other modes are refused then.
  returned: always
  type: str
  sample: observe
installed:
  description: The guard now (in check mode, the one the statements would leave); V(unknown) as RV(installed_before).
  returned: always
  type: str
  sample: enforce
message:
  description: Why the mode is V(unknown) - the missing TRIGGER privilege and the GRANT that gives it.
  returned: when the mode is unknown
  type: str
  sample: "the user ro@% lacks the TRIGGER privilege on app.analytics_activityevent, ... GRANT TRIGGER ON `app`.`analytics_activityevent` TO 'ro'@'%'; ..."
statements:
  description: The DDL run (in check mode, the DDL it would run); empty when nothing had to change.
  returned: always
  type: list
  elements: str
  sample: ["CREATE TRIGGER `jsonmend_guard_enforce_ins_analytics_activityevent` BEFORE INSERT ON `analytics_activityevent` FOR EACH ROW BEGIN ... END"]
triggers:
  description:
    - Every trigger of the table with its timing, event and order; C(jsonmend) marks the guard's.
    - On PostgreSQL also its CHECK constraints (timing C(CHECK), C(validated)), enforce's among them; on MariaDB and
      MySQL jsonmend's own CHECK constraint (O(enforce_with=constraint)), if there is one.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "app_audit", "timing": "BEFORE", "event": "INSERT", "order": 1, "jsonmend": false}]
log_table:
  description: The log of observe.
  returned: always
  type: str
  sample: analytics_activityevent_jsonmend_guard_log
nullable:
  description: Whether the column allows SQL NULL (then the guard allows it too).
  returned: always
  type: bool
corrupt_rows:
  description: V(enforce) - corrupt rows found before installing (counted up to 1000).
  returned: when mode is enforce and something had to change
  type: int
rebuild:
  description: O(enforce_with=constraint) on MariaDB or MySQL - what adding the constraint costs (the table copied, writes waiting).
  returned: when adding the constraint copies the table
  type: str
lock_attempts:
  description: DDL attempts made (more than the statements when a metadata-lock wait ran out and was retried).
  returned: when statements ran
  type: int
drifted:
  description: V(status) - a guard trigger's body differs from the one this version installs (run the mode again).
  returned: mode is status
  type: bool
warnings_text:
  description: The warnings as plain text (enforce forced over corrupt rows).
  returned: always
  type: list
  elements: str
events:
  description:
    - V(status) - the writes observe logged since O(since) - total, by_class, by_event, first, last, and the newest few;
      all_total, every row the log holds; checked_at, the server's UTC time before the read (the next O(since)).
  returned: mode is status
  type: dict
  sample: {"total": 2, "all_total": 5, "checked_at": "2026-12-07T06:00:00.000000Z", "by_class": {"INTEGER": 2}, "by_event": {"INSERT": 2},
           "first": "2026-12-01T10:00:00.000000Z", "recent": []}
"""

from ansible.module_utils.jsonmend.db.connection import CONNECTION_ARGUMENT_SPEC, TARGET_ARGUMENT_SPEC
from ansible.module_utils.jsonmend.db.runner import connected, run_module, warn_all
from ansible.module_utils.jsonmend.guard.guard import GUARD_ARGUMENT_SPEC, SQLITE_REFUSAL, run_guard


def argument_spec():
    spec = dict(CONNECTION_ARGUMENT_SPEC)
    spec.update(TARGET_ARGUMENT_SPEC)
    spec.update(GUARD_ARGUMENT_SPEC)
    return spec


def work(module):
    with connected(module.params, autocommit=True) as db:
        result = run_guard(db, module.params, module.check_mode)
    warn_all(module, result["warnings_text"])
    return result


def main():
    run_module(
        argument_spec(),
        work,
        what=lambda p: "guard %s of %s.%s.%s" % (p["mode"], p["database"], p["table"], p["column"]),
        sqlite_refusal=SQLITE_REFUSAL,
    )


if __name__ == "__main__":
    main()
