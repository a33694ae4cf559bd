# Documentation of the connection options every jsonmend module shares (module_utils/jsonmend/db/connection.py
# CONNECTION_ARGUMENT_SPEC). Modules list it under extends_documentation_fragment.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  login_host:
    description: Host of the server. Falls back to the option file, then C(localhost).
    type: str
  login_port:
    description: TCP port. Falls back to the option file, then 3306.
    type: int
  login_user:
    description: User name. Falls back to the option file.
    type: str
    aliases: [login_username]
  login_password:
    description: Password. Falls back to the option file. Never logged.
    type: str
  login_unix_socket:
    description: Unix socket path; used instead of TCP when given.
    type: str
  config_file:
    description: MySQL option file read for the C([client]) group when it exists.
    type: path
    default: ~/.my.cnf
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
      - Server flavour. V(auto) reads C(VERSION()).
      - V(sqlite) opens O(database) as a local file (a development database); only the read-only modules accept it.
    type: str
    default: auto
    choices: [auto, mariadb, mysql, sqlite]
  database:
    description: Database (schema) name.
    type: str
    required: true
    aliases: [login_db, db]
"""
