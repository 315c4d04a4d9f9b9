"""CPU and wall time of a command and all its descendants, for the benchmarks."""
import ctypes
import os
import subprocess
import time

# Become a subreaper so background helpers (heaptrack's compressor) are reaped by us and
# their CPU time is counted.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def measure(cmd):
    """Runs cmd; returns (cpu seconds of it and all its descendants, wall seconds)."""
    before = os.times()
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    p.wait()
    while True:  # reap orphans handed to us
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.monotonic() - start
    after = os.times()
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} exited {p.returncode}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return cpu, wall
