# The repair engine: repair, undo and its probe, the ledger, policy, throttle, progress, the job
# skeleton and the repair target. Imports db/ only.
