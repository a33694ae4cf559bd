# The guard engine: triggers that watch (observe) or refuse (enforce) a non-object written to the
# target column, at the moment of the write (the engine of library/json_guard.py). Imports db/ only.
