# Documentation of the connection options every jsonmend module shares (module_utils/jsonmend/db/connection.py
# CONNECTION_ARGUMENT_SPEC). Modules list it under extends_documentation_fragment.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host of the server. Falls back to the option file (PostgreSQL - the service, then libpq's C(PGHOST)), then C(localhost).
    type: str
  login_port:
    description: TCP port. Falls back to the option file, then 3306 (PostgreSQL - the service, C(PGPORT), then 5432).
    type: int
  login_user:
    description: User name. Falls back to the option file.
    type: str
    aliases: [login_username]
  login_password:
    description:
      - Password. Falls back to the option file (PostgreSQL - O(passfile), C(PGPASSFILE) or C(~/.pgpass)). Never logged,
        never on a command line.
    type: str
  login_unix_socket:
    description:
      - Unix socket path; used instead of TCP when given. For PostgreSQL the socket file (C(.s.PGSQL.5432), its port taken
        from the name) or its directory.
    type: str
  config_file:
    description: MySQL option file read for the C([client]) group when it exists (MariaDB and MySQL only).
    type: path
    default: ~/.my.cnf
  passfile:
    description:
      - PostgreSQL password file (the format of C(~/.pgpass), mode 0600) holding the password instead of O(login_password).
      - Without it libpq reads C(PGPASSFILE), then C(~/.pgpass).
    type: path
  service:
    description: PostgreSQL service name, a section of the service file holding host, port, user and database defaults.
    type: str
  service_file:
    description: PostgreSQL service file (the format of C(~/.pg_service.conf)) read for O(service).
    type: path
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 30
  ca_cert:
    description: CA certificate; when given the server certificate is verified.
    type: path
    aliases: [ssl_ca]
  client_cert:
    description: Client certificate for TLS.
    type: path
    aliases: [ssl_cert]
  client_key:
    description: Client key for TLS.
    type: path
    aliases: [ssl_key]
  check_hostname:
    description: Verify that the server certificate names the host (with O(ca_cert)).
    type: bool
  dialect:
    description:
      - Server flavour. V(auto) takes PostgreSQL when O(passfile), O(service) or O(service_file) is given, the socket is
        PostgreSQL's or the port is 5432; MariaDB/MySQL (told apart by C(VERSION())) without a port, on 3306 or another
        socket. On any other port it opens a TCP connection without credentials - MariaDB and MySQL greet the client at
        once, PostgreSQL waits for it (one second) - set the dialect to skip that probe. A server the probe cannot reach is
        taken for MariaDB/MySQL, whose driver then says why.
      - V(postgresql) connects with psycopg 3 (PostgreSQL 13 or later).
      - V(sqlite) opens O(database) as a local file (a development database); only the read-only modules accept it.
    type: str
    default: auto
    choices: [auto, mariadb, mysql, postgresql, sqlite]
  database:
    description: Database (schema) name; for PostgreSQL the database, the schema being part of O(table).
    type: str
    required: true
    aliases: [login_db, db]
"""
