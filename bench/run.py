#!/usr/bin/env python3
"""make bench: the allocation storm untracked, under memtap and under heaptrack (record-only,
its cheapest mode), in alternation, ROUNDS times. Prints medians of CPU time (user+sys of
the whole process tree, compressors included) and wall time, ratios to untracked, capture
bytes per allocation, and the reader's time beside `lz4 -dc` on the same capture.

usage: bench/run.py BUILD_DIR   (env: ROUNDS=3, ALLOCATIONS=12000000, THREADS=1)
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import measure  # noqa: E402 - needs the path above

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
ALLOCS = int(os.environ.get("ALLOCATIONS", "12000000"))
THREADS = int(os.environ.get("THREADS", "1"))
MEMTAP = os.path.join(BUILD, "memtap")
STORM = [os.path.join(BUILD, "bench", "storm"), str(ALLOCS), str(THREADS)]
TMP = tempfile.mkdtemp(prefix="memtap-bench-")


def memtap_cmd():
    out = os.path.join(TMP, "storm.memtap")
    if os.path.exists(out):
        os.unlink(out)
    return [MEMTAP, "run", "-o", out, "--"] + STORM, out


def heaptrack_cmd():
    base = os.path.join(TMP, "storm.heaptrack")
    for f in glob.glob(base + "*"):
        os.unlink(f)
    return ["heaptrack", "-r", "-o", base] + STORM, base


def main():
    have_heaptrack = shutil.which("heaptrack") is not None
    runs = {"untracked": [], "memtap": []}
    if have_heaptrack:
        runs["heaptrack -r"] = []
    sizes = {}
    print(f"bench: storm, {ALLOCS:,} allocations, {THREADS} thread(s), {ROUNDS} rounds in alternation")
    for r in range(ROUNDS):
        runs["untracked"].append(measure(STORM))
        cmd, out = memtap_cmd()
        runs["memtap"].append(measure(cmd))
        sizes["memtap"] = os.path.getsize(out)
        if have_heaptrack:
            cmd, base = heaptrack_cmd()
            runs["heaptrack -r"].append(measure(cmd))
            files = glob.glob(base + "*")
            sizes["heaptrack -r"] = sum(os.path.getsize(f) for f in files)
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.2f} s cpu" for k, v in runs.items()))

    summary = json.loads(subprocess.run([MEMTAP, "summary", "--json", os.path.join(TMP, "storm.memtap")],
                                        capture_output=True, text=True, check=True).stdout)
    calls = summary["allocations"]
    base_cpu = statistics.median(c for c, _ in runs["untracked"])
    base_wall = statistics.median(w for _, w in runs["untracked"])
    print(f"\n{'':14} {'cpu (median)':>13} {'ratio':>7} {'wall':>8} {'ratio':>7} {'capture':>11} {'B/alloc':>8}")
    for name, v in runs.items():
        cpu = statistics.median(c for c, _ in v)
        wall = statistics.median(w for _, w in v)
        size = sizes.get(name)
        print(f"{name:14} {cpu:12.2f}s {cpu / base_cpu:6.2f}x {wall:7.2f}s {wall / base_wall:6.2f}x "
              + (f"{size / 2**20:9.1f}MiB {size / calls:8.2f}" if size else ""))
    if "heaptrack -r" in runs:
        m = statistics.median(c for c, _ in runs["memtap"])
        h = statistics.median(c for c, _ in runs["heaptrack -r"])
        print(f"\nmemtap / heaptrack -r cpu: {m / h:.2f}x; capture size ratio: "
              f"{sizes['memtap'] / sizes['heaptrack -r']:.2f}x")

    capture = os.path.join(TMP, "storm.memtap")
    readers = {"lz4 -dc": ["sh", "-c", f"lz4 -dc '{capture}' > /dev/null"],
               "memtap summary": [MEMTAP, "summary", capture],
               "memtap leaks": [MEMTAP, "leaks", capture]}
    times = {k: [] for k in readers}
    for _ in range(ROUNDS):
        for k, cmd in readers.items():
            times[k].append(measure(cmd))
    lz4 = statistics.median(w for _, w in times["lz4 -dc"])
    print(f"\nreader on {sizes['memtap'] / 2**20:.1f} MiB capture ({calls:,} allocations; the "
          f"reports decode and replay on two threads, so their CPU time exceeds their wall time):")
    for k, v in times.items():
        wall = statistics.median(w for _, w in v)
        cpu = statistics.median(c for c, _ in v)
        target = "" if k == "lz4 -dc" else " (target <= 6x)"
        print(f"  {k:16} {wall:6.2f} s wall  {wall / lz4:5.1f}x lz4 -dc{target:16}  {cpu:6.2f} s cpu")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
