# The database core every engine shares: connection, dialects, identifiers, chunks, errors,
# locks, grants, server identity, the one inspector of the target and the application's decoder.
# Imports nothing from the engines (scan/, repair/, backup/).
