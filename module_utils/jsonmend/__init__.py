# jsonmend's module_utils: the database core (db/) and the engines that use it (scan/, repair/,
# backup/). Imports run one way, engine -> db, never engine -> engine nor db -> engine
# (tests/unit/test_import_layers.py).
