"""CPU and wall time of a command and all its descendants, for the benchmarks."""
import ctypes
import os
import shutil
import subprocess
import tempfile
import time

# Become a subreaper so background helpers (heaptrack's compressor) are reaped by us and
# their CPU time is counted.
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def fresh_library(cmd):
    """For `memtap run`: a copy of the libmemtap.so beside that memtap, made for this run
    (a directory to remove after it), or None. On the development machine one build's
    libmemtap.so file ran a Python program 15 % slower than any copy of it, run after run,
    and a copy in the same directory was as fast as the others: where the file's pages lie
    in memory, not its code, decided (docs/performance.md, eleventh session). A copy per run
    makes that one more thing the medians of alternating rounds even out."""
    if len(cmd) < 2 or os.path.basename(cmd[0]) != "memtap" or cmd[1] != "run":
        return None
    d = tempfile.mkdtemp(prefix="memtap-bench-lib-")
    shutil.copy(os.path.join(os.path.dirname(cmd[0]), "libmemtap.so"), d)
    return d


def measure(cmd):
    """Runs cmd; returns (cpu seconds of it and all its descendants, wall seconds)."""
    lib = fresh_library(cmd)
    env = dict(os.environ, MEMTAP_LIBRARY=os.path.join(lib, "libmemtap.so")) if lib else None
    before = os.times()
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    p.wait()
    while True:  # reap orphans handed to us
        try:
            pid, _ = os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.monotonic() - start
    after = os.times()
    if lib:
        shutil.rmtree(lib)
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} exited {p.returncode}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return cpu, wall
