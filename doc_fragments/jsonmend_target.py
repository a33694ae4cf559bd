# Documentation of the target options (module_utils/jsonmend/db/connection.py TARGET_ARGUMENT_SPEC):
# the table, its JSON column and its key. Modules list it under extends_documentation_fragment and
# give each option their own description; type and default are written here once.
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  table:
    description:
      - Table holding the JSON column. On PostgreSQL V(schema.table) names its schema; a bare name is in C(public).
    type: str
    default: analytics_activityevent
  column:
    description: JSON column that must hold an object in every row.
    type: str
    default: metadata
  primary_key:
    description: The table's single-column primary key.
    type: str
    default: id
"""
