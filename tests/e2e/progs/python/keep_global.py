"""Objects a global list keeps: 100 bytearrays of 10,000 bytes. os._exit ends the process
without the interpreter's finalization (which would free them), as forked workers do: they
are still reachable at exit, so --check=reachable fails on them and the default check
passes."""
import os

KEPT = []


def keep():
    for _ in range(100):
        KEPT.append(bytearray(10000))  # KEEP


keep()
os._exit(0)
