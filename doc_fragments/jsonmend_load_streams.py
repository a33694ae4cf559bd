# Documentation of load_streams (module_utils/jsonmend/backup/backups.py TOOLS_ARGUMENT_SPEC): how many
# client sessions load a dump (backup/parallel_load.py), written once for the modules that load one.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  load_streams:
    description:
      - Client sessions that load the dump's rows at once (a verification's scratch restore, a restore of the live
        table); the tables' DDL, triggers, views, routines and events still run in order, one session at a time.
      - 0 picks half the server's CPUs, at least 2 and at most 4, as the scan does; 1 is a single C(mariadb < dump) stream.
    type: int
    default: 0
"""
