# Which server a backup belongs to: @@server_uuid where the server has one (MySQL), the cluster's
# system identifier on PostgreSQL, else @@hostname:@@port (MariaDB has no server_uuid). Recorded at backup time and compared wherever a
# backup is picked, compared, restored or retained, so a backup directory shared by staging and
# production can never put one server's rows into the other.
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ansible.module_utils.jsonmend.db.connection import connect, driver_error_types, driver_message
from ansible.module_utils.jsonmend.db.errors import JsonmendError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ansible.module_utils.jsonmend.db.connection import Database

UNKNOWN = None


def identity_statement(flavour: str) -> str:
    """SELECT returning (server_uuid or NULL, hostname, port) on a server of this flavour."""
    if flavour == "postgresql":
        # The cluster's system identifier (initdb's, shared by its physical replicas) stands for the
        # uuid; the address is NULL over a socket.
        return "SELECT 'pg-' || system_identifier, host(inet_server_addr()), current_setting('port')::int FROM pg_control_system()"
    if flavour == "mysql":
        return "SELECT @@GLOBAL.server_uuid, @@GLOBAL.hostname, @@GLOBAL.port"
    # MariaDB knows no server_uuid: naming it would fail the statement.
    return "SELECT NULL, @@GLOBAL.hostname, @@GLOBAL.port"


def identity_text(server_uuid: str | None, hostname: str | None, port: int | str | None) -> str:
    """The comparable identity: 'uuid:<server_uuid>', else '<hostname>:<port>'."""
    if server_uuid:
        return "uuid:%s" % server_uuid
    return "%s:%s" % (hostname, port)


def read_identity(db: Database) -> dict[str, Any]:
    """{identity, server_uuid, hostname, port} of the server `db` is connected to."""
    if db.dialect.name == "sqlite":
        return dict(identity="sqlite:%s" % db.database, server_uuid=None, hostname=None, port=None)
    try:
        row = db.query_one(identity_statement(db.dialect.name))
    except driver_error_types() as exc:
        raise JsonmendError("could not read the server's identity (@@server_uuid, @@hostname, @@port): %s" % driver_message(exc)) from None
    server_uuid, hostname, port = row
    return dict(identity=identity_text(server_uuid, hostname, port), server_uuid=server_uuid or None, hostname=hostname, port=int(port) if port else None)


def identity_for(params: Mapping[str, Any]) -> dict[str, Any]:
    """read_identity() over a short connection of its own, for modules that hold none."""
    db = connect(params)
    try:
        return read_identity(db)
    finally:
        db.close()


def recorded_identity(manifest: Mapping[str, Any] | None) -> str | None:
    """The identity a manifest recorded, or None for a manifest written before identities were."""
    server = (manifest or {}).get("server") or {}
    return server.get("identity") or None


def same_server(manifest: Mapping[str, Any] | None, identity: str | None) -> bool:
    """True only when the manifest recorded this very identity (an old manifest never is)."""
    return bool(identity) and recorded_identity(manifest) == identity


def check_server(manifest: Mapping[str, Any], identity: str | None, allow_other: bool = False) -> str | None:
    """Refuse a backup of another server; return a warning for an old manifest without identity.

    Only for a backup the operator named explicitly (by id or manifest file): `latest` never
    picks a manifest without identity. Returns None or the warning text.
    """
    recorded = recorded_identity(manifest)
    if recorded is None:
        return (
            "backup %s records no server identity (taken before jsonmend recorded one): it is used because it was named"
            " explicitly, but nothing proves it comes from this server (%s)" % (manifest.get("id"), identity)
        )
    if recorded != identity and not allow_other:
        raise JsonmendError(
            "backup %s was taken on server %s, but this is server %s: a backup directory shared by two servers (staging and"
            " production?) must never restore one into the other. Choose a backup of this server; if this server was rebuilt"
            " and really must get that backup, say so with allow_other_server" % (manifest.get("id"), recorded, identity)
        )
    if recorded != identity:
        return "backup %s was taken on server %s, not on this server %s (allow_other_server)" % (manifest.get("id"), recorded, identity)
    return None
