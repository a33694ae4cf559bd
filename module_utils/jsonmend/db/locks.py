# Named advisory locks (GET_LOCK on the MySQL family, pg_try_advisory_lock on PostgreSQL, through the
# dialect): one writing jsonmend run per table at a time. The lock belongs to the connection, so a
# killed run releases it as soon as the server sees it gone.
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from ansible.module_utils.jsonmend.db.connection import Database

LOCK_NAME_MAX = 64  # MySQL 5.7+ refuses longer names; MariaDB accepts them, keep one rule


def table_lock_name(database: str, table: str) -> str:
    """The lock every jsonmend writer of database.table takes; hashed when it would be too long."""
    name = "jsonmend:%s.%s" % (database, table)
    if len(name) <= LOCK_NAME_MAX:
        return name
    return "jsonmend:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[: LOCK_NAME_MAX - len("jsonmend:")]


class AdvisoryLock:
    """A session-level advisory lock on one connection (the dialect's GET_LOCK or pg_try_advisory_lock)."""

    def __init__(self, db: Database, name: str, what: str) -> None:
        self.db = db
        self.name = name
        self.what = what
        self.held = False

    def acquire(self, timeout: float = 0) -> AdvisoryLock:
        """Take the lock or raise JsonmendError naming the connection that holds it."""
        dialect = self.db.dialect
        if dialect.try_advisory_lock(self.db, self.name, timeout):
            self.held = True
            return self
        detail = dialect.advisory_lock_holder(self.db, self.name)
        raise JsonmendError(
            "another jsonmend run is already working on %s: advisory lock %r is held%s. Wait for it to finish, "
            "or stop it with its stop file; nothing was changed by this run" % (self.what, self.name, detail)
        )

    def release(self) -> None:
        """Release the lock; never raises, so it cannot mask the error that ended a run."""
        if not self.held:
            return
        self.held = False
        try:
            self.db.dialect.release_advisory_lock(self.db, self.name)
        except Exception:  # noqa: BLE001 - a lost connection has released the lock already
            pass
