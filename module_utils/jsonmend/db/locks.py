# Named advisory locks (GET_LOCK): one writing jsonmend run per table at a time. The lock
# belongs to the connection, so a killed run releases it as soon as the server sees it gone.
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
    """GET_LOCK/RELEASE_LOCK on one connection."""

    def __init__(self, db: Database, name: str, what: str) -> None:
        self.db = db
        self.name = name
        self.what = what
        self.held = False

    def acquire(self, timeout: float = 0) -> AdvisoryLock:
        """Take the lock or raise JsonmendError naming the connection that holds it."""
        row = self.db.query_one("SELECT GET_LOCK(%s, %s)", (self.name, int(timeout)))
        if row and row[0] == 1:
            self.held = True
            return self
        holder = self.db.query_one("SELECT IS_USED_LOCK(%s)", (self.name,))
        holder_id = holder[0] if holder else None
        detail = ""
        if holder_id is not None:
            detail = " by connection %s" % holder_id
            info = self._holder_info(holder_id)
            if info:
                detail += " (%s)" % info
        raise JsonmendError(
            "another jsonmend run is already working on %s: advisory lock %r is held%s. Wait for it to finish, "
            "or stop it with its stop file; nothing was changed by this run" % (self.what, self.name, detail)
        )

    def _holder_info(self, connection_id):
        try:
            row = self.db.query_one(
                "SELECT USER, HOST, TIME FROM information_schema.PROCESSLIST WHERE ID = %s",
                (connection_id,),
            )
        except Exception:  # noqa: BLE001 - only a hint for the message
            return ""
        if not row:
            return ""
        return "user %s from %s, %ss in its current state" % (row[0], row[1], row[2])

    def release(self) -> None:
        """Release the lock; never raises, so it cannot mask the error that ended a run."""
        if not self.held:
            return
        self.held = False
        try:
            self.db.query("SELECT RELEASE_LOCK(%s)", (self.name,))
        except Exception:  # noqa: BLE001 - a lost connection has released the lock already
            pass
