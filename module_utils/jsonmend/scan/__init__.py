# The scan engine: catalog checks of the target, worker planning, the parallel read-only scan
# and its summary (the engine of library/json_type_scan.py). Imports db/ only.
