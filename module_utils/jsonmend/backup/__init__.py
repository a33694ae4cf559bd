# The backup subsystem: backups, verification, restores, manifests, checksums, the aligned
# snapshot, the client tools and restore-impact ranges. Imports db/ only.
