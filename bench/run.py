#!/usr/bin/env python3
"""make bench: the allocation storm, on 1 and on 4 threads, untracked, under memtap and under
heaptrack (record-only, its cheapest mode), all in alternation, ROUNDS times. Prints medians
of CPU time (user+sys of the whole process tree, compressors included) and wall time,
ratios to untracked, capture bytes per allocation, the growth of memtap's added cost per
event from 1 to 4 threads, and the reader's time beside `lz4 -dc` on the captures: each
figure beside issue 4's target.

usage: bench/run.py BUILD_DIR   (env: ROUNDS=3, ALLOCATIONS=12000000, THREADS=1,4)
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
THREADS = [int(t) for t in os.environ.get("THREADS", "1,4").split(",")]
MEMTAP = os.path.join(BUILD, "memtap")
TMP = tempfile.mkdtemp(prefix="memtap-bench-")
CPU_TARGET = {1: 2.5, 4: 3.0}  # memtap's CPU time against untracked
GROWTH_TARGET = 1.5  # added CPU per event, 4 threads against 1
SIZE_TARGET = 0.5  # capture bytes against heaptrack -r's
READER_TARGET = 6  # memtap summary and leaks against lz4 -dc


def storm(threads):
    return [os.path.join(BUILD, "bench", "storm"), str(ALLOCS), str(threads)]


def capture(threads):
    return os.path.join(TMP, f"storm{threads}.memtap")


def memtap_cmd(threads):
    out = capture(threads)
    if os.path.exists(out):
        os.unlink(out)
    return [MEMTAP, "run", "-o", out, "--"] + storm(threads)


def heaptrack_base(threads):
    return os.path.join(TMP, f"storm{threads}.heaptrack")


def heaptrack_cmd(threads):
    for f in glob.glob(heaptrack_base(threads) + "*"):
        os.unlink(f)
    return ["heaptrack", "-r", "-o", heaptrack_base(threads)] + storm(threads)


def target(ok_if_at_most, value):
    return f"(target <= {ok_if_at_most:g}x: {'met' if value <= ok_if_at_most else 'NOT met'})"


def main():
    tools = ["untracked", "memtap"] + (["heaptrack -r"] if shutil.which("heaptrack") else [])
    runs = {(t, k): [] for t in THREADS for k in tools}
    sizes = {}
    print(f"bench: storm, {ALLOCS:,} allocations, on {' and '.join(map(str, THREADS))} "
          f"thread(s), {ROUNDS} rounds in alternation")
    for r in range(ROUNDS):
        line = []
        for t in THREADS:
            runs[(t, "untracked")].append(measure(storm(t)))
            runs[(t, "memtap")].append(measure(memtap_cmd(t)))
            sizes[(t, "memtap")] = os.path.getsize(capture(t))
            if "heaptrack -r" in tools:
                runs[(t, "heaptrack -r")].append(measure(heaptrack_cmd(t)))
                sizes[(t, "heaptrack -r")] = sum(os.path.getsize(f)
                                                 for f in glob.glob(heaptrack_base(t) + "*"))
            line.append(f"{t}t: " + ", ".join(f"{k} {runs[(t, k)][-1][0]:.2f} s" for k in tools))
        print(f"  round {r + 1}: cpu " + "; ".join(line))

    median_cpu = {key: statistics.median(c for c, _ in v) for key, v in runs.items()}
    added = {}
    for t in THREADS:
        summary = json.loads(subprocess.run([MEMTAP, "summary", "--json", capture(t)],
                                            capture_output=True, text=True, check=True).stdout)
        calls = summary["allocations"]
        base_cpu = median_cpu[(t, "untracked")]
        base_wall = statistics.median(w for _, w in runs[(t, "untracked")])
        print(f"\n{t} thread(s) {'':3} {'cpu (median)':>13} {'ratio':>7} {'wall':>8} {'ratio':>7} "
              f"{'capture':>11} {'B/alloc':>8}")
        for k in tools:
            cpu = median_cpu[(t, k)]
            wall = statistics.median(w for _, w in runs[(t, k)])
            size = sizes.get((t, k))
            print(f"{k:14} {cpu:12.2f}s {cpu / base_cpu:6.2f}x {wall:7.2f}s {wall / base_wall:6.2f}x "
                  + (f"{size / 2**20:9.1f}MiB {size / calls:8.2f}" if size else ""))
        ratio = median_cpu[(t, "memtap")] / base_cpu
        print(f"memtap cpu against untracked: {ratio:.2f}x "
              + (target(CPU_TARGET[t], ratio) if t in CPU_TARGET else ""))
        if "heaptrack -r" in tools:
            size_ratio = sizes[(t, "memtap")] / sizes[(t, "heaptrack -r")]
            print(f"memtap / heaptrack -r: cpu {median_cpu[(t, 'memtap')] / median_cpu[(t, 'heaptrack -r')]:.2f}x, "
                  f"capture size {size_ratio:.2f}x {target(SIZE_TARGET, size_ratio)}")
        added[t] = (median_cpu[(t, "memtap")] - base_cpu) / calls
    if 1 in added and 4 in added:
        growth = added[4] / added[1]
        print(f"\nmemtap's added cpu per allocation: {added[1] * 1e9:.0f} ns on 1 thread, "
              f"{added[4] * 1e9:.0f} ns on 4: growth {growth:.2f}x {target(GROWTH_TARGET, growth)}")

    for t in THREADS:
        cap = capture(t)
        readers = {"lz4 -dc": ["sh", "-c", f"lz4 -dc '{cap}' > /dev/null"],
                   "memtap summary": [MEMTAP, "summary", cap],
                   "memtap leaks": [MEMTAP, "leaks", cap]}
        times = {k: [] for k in readers}
        for _ in range(ROUNDS):
            for k, cmd in readers.items():
                times[k].append(measure(cmd))
        lz4 = statistics.median(w for _, w in times["lz4 -dc"])
        print(f"\nreader on the {t}-thread capture, {os.path.getsize(cap) / 2**20:.1f} MiB (the reports "
              f"decode and replay on two threads, so their CPU time exceeds their wall time):")
        for k, v in times.items():
            wall = statistics.median(w for _, w in v)
            cpu = statistics.median(c for c, _ in v)
            note = "" if k == "lz4 -dc" else target(READER_TARGET, wall / lz4)
            print(f"  {k:16} {wall:6.2f} s wall  {wall / lz4:5.1f}x lz4 -dc  {cpu:6.2f} s cpu  {note}")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
