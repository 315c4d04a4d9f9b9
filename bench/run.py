#!/usr/bin/env python3
"""make bench, native part: two allocation storms, each on 1 and on 4 threads, untracked,
under memtap and under heaptrack (record-only, its cheapest mode), in alternation:

  storm  bench/storm.c: each call path repeats for 16 allocations (what memtap's lazy walk
         and stack cache feed on)
  paths  bench/paths.c: every allocation takes a new call path (about 11,000 stacks)

memtap runs twice: as `memtap run` runs by default, and with --leak-scan (the leak scan
at exit, on under --check), so the scan's share shows. Prints medians of CPU time (user+sys of the
whole process tree, compressors and memtap run's collector included), ratios
to untracked, capture bytes per allocation call, the growth of memtap's added cost per event
from 1 to 4 threads, and the reader's time beside `lz4 -dc` on every capture: each figure
beside its target. heaptrack runs in the first HEAPTRACK_ROUNDS rounds only (its capture
size does not change from round to round, and it is the slowest by far).

usage: bench/run.py BUILD_DIR
env:   ROUNDS=5 HEAPTRACK_ROUNDS=1 THREADS=1,4 WORKLOADS=storm,paths
       STORM_ALLOCATIONS=6000000 PATHS_ALLOCATIONS=3000000 (ALLOCATIONS sets both)
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
ROUNDS = int(os.environ.get("ROUNDS", "5"))
HEAPTRACK_ROUNDS = int(os.environ.get("HEAPTRACK_ROUNDS", "1"))
THREADS = [int(t) for t in os.environ.get("THREADS", "1,4").split(",")]
WORKLOADS = os.environ.get("WORKLOADS", "storm,paths").split(",")
ALLOCS = {
    "storm": int(os.environ.get("STORM_ALLOCATIONS", os.environ.get("ALLOCATIONS", "6000000"))),
    "paths": int(os.environ.get("PATHS_ALLOCATIONS", os.environ.get("ALLOCATIONS", "3000000"))),
}
MEMTAP = os.path.join(BUILD, "memtap")
TMP = tempfile.mkdtemp(prefix="memtap-bench-")
CPU_TARGET = {1: 2.5, 4: 3.0}  # memtap's CPU time against untracked
GROWTH_TARGET = 1.5  # added CPU per event, 4 threads against 1
SIZE_TARGET = 0.8  # capture bytes against heaptrack -r's
READER_TARGET = 6  # memtap summary and leaks against lz4 -dc


def program(w, threads):
    return [os.path.join(BUILD, "bench", w), str(ALLOCS[w]), str(threads)]


def capture(w, threads):
    return os.path.join(TMP, f"{w}{threads}.memtap")


def heaptrack_base(w, threads):
    return os.path.join(TMP, f"{w}{threads}.heaptrack")


SCAN = "memtap --leak-scan"  # what the leak scan at exit costs (off in a plain run)


def command(tool, w, threads):
    if tool in ("memtap", SCAN):
        out = capture(w, threads) + ("" if tool == "memtap" else ".scan")
        if os.path.exists(out):
            os.unlink(out)
        return [MEMTAP, "run"] + (["--leak-scan"] if tool == SCAN else []) + \
            ["-o", out, "--"] + program(w, threads)
    if tool == "heaptrack -r":
        for f in glob.glob(heaptrack_base(w, threads) + "*"):
            os.unlink(f)
        return ["heaptrack", "-r", "-o", heaptrack_base(w, threads)] + program(w, threads)
    return program(w, threads)


def size_of(tool, w, threads):
    if tool == "memtap":
        return os.path.getsize(capture(w, threads))
    if tool == SCAN:
        return os.path.getsize(capture(w, threads) + ".scan")
    return sum(os.path.getsize(f) for f in glob.glob(heaptrack_base(w, threads) + "*"))


def target(ok_if_at_most, value):
    return f"(target <= {ok_if_at_most:g}x: {'met' if value <= ok_if_at_most else 'NOT met'})"


def run_rounds(tools):
    runs = {(w, t, k): [] for w in WORKLOADS for t in THREADS for k in tools}
    sizes = {}
    for r in range(ROUNDS):
        line = []
        for w in WORKLOADS:
            for t in THREADS:
                for k in tools:
                    if k == "heaptrack -r" and r >= HEAPTRACK_ROUNDS:
                        continue
                    runs[(w, t, k)].append(measure(command(k, w, t)))
                    if k != "untracked":
                        sizes[(w, t, k)] = size_of(k, w, t)
                line.append(f"{w} {t}t " + "/".join(f"{runs[(w, t, k)][-1][0]:.2f}" for k in tools
                                                   if runs[(w, t, k)]))
        print(f"  round {r + 1}, cpu s ({' / '.join(tools)}): " + "; ".join(line), flush=True)
    return runs, sizes


def report(w, runs, sizes, tools):
    """Prints one workload's tables, then the growth of memtap's added cost per event."""
    added = {}
    for t in THREADS:
        summary = json.loads(subprocess.run([MEMTAP, "summary", "--json", capture(w, t)],
                                            capture_output=True, text=True, check=True).stdout)
        calls = summary["allocations"]
        cpu = {k: statistics.median(c for c, _ in runs[(w, t, k)])
               for k in tools if runs[(w, t, k)]}
        wall = {k: statistics.median(x for _, x in runs[(w, t, k)]) for k in cpu}
        base = cpu["untracked"]
        print(f"\n{w}, {t} thread(s) {'':2} {'cpu (median)':>13} {'ratio':>7} {'wall':>8} "
              f"{'ratio':>7} {'capture':>11} {'B/alloc':>8}")
        for k in cpu:
            size = sizes.get((w, t, k))
            print(f"{k:18} {cpu[k]:10.2f}s {cpu[k] / base:6.2f}x {wall[k]:7.2f}s "
                  f"{wall[k] / wall['untracked']:6.2f}x "
                  + (f"{size / 2**20:9.1f}MiB {size / calls:8.2f}" if size else ""))
        ratio = cpu["memtap"] / base
        print(f"memtap cpu against untracked: {ratio:.2f}x "
              + (target(CPU_TARGET[t], ratio) if t in CPU_TARGET else ""))
        if SCAN in cpu:
            print(f"  with --leak-scan {cpu[SCAN] / base:.2f}x: the scan at exit (the "
                  f"collector replays the capture) adds {(cpu[SCAN] - cpu['memtap']) / base:.2f}x")
        if "heaptrack -r" in cpu:
            size_ratio = sizes[(w, t, "memtap")] / sizes[(w, t, "heaptrack -r")]
            print(f"memtap / heaptrack -r: cpu {cpu['memtap'] / cpu['heaptrack -r']:.2f}x, "
                  f"capture size {size_ratio:.2f}x {target(SIZE_TARGET, size_ratio)}")
        added[t] = (cpu["memtap"] - base) / calls
    if 1 in added and 4 in added:
        growth = added[4] / added[1]
        print(f"{w}: memtap's added cpu per allocation: {added[1] * 1e9:.0f} ns on 1 thread, "
              f"{added[4] * 1e9:.0f} ns on 4: growth {growth:.2f}x {target(GROWTH_TARGET, growth)}")


def report_reader(w):
    for t in THREADS:
        cap = capture(w, t)
        readers = {"lz4 -dc": ["sh", "-c", f"lz4 -dc '{cap}' > /dev/null"],
                   "memtap summary": [MEMTAP, "summary", cap],
                   "memtap leaks": [MEMTAP, "leaks", cap]}
        times = {k: [] for k in readers}
        for _ in range(ROUNDS):
            for k, cmd in readers.items():
                times[k].append(measure(cmd))
        lz4 = statistics.median(x for _, x in times["lz4 -dc"])
        print(f"\nreader on the {w} {t}-thread capture, {os.path.getsize(cap) / 2**20:.1f} MiB "
              "(the reports decode and replay on two threads: CPU time above wall time):")
        for k, v in times.items():
            wall = statistics.median(x for _, x in v)
            cpu = statistics.median(c for c, _ in v)
            note = "" if k == "lz4 -dc" else target(READER_TARGET, wall / lz4)
            print(f"  {k:16} {wall:6.2f} s wall  {wall / lz4:5.1f}x lz4 -dc  {cpu:6.2f} s cpu  "
                  + note)


def main():
    tools = ["untracked", "memtap", SCAN] + (["heaptrack -r"] if shutil.which("heaptrack") else [])
    print("bench: " + ", ".join(f"{w} ({ALLOCS[w]:,} allocations)" for w in WORKLOADS)
          + f", on {' and '.join(map(str, THREADS))} thread(s), {ROUNDS} rounds in alternation"
          + (f" (heaptrack in the first {HEAPTRACK_ROUNDS})" if "heaptrack -r" in tools else ""))
    runs, sizes = run_rounds(tools)
    for w in WORKLOADS:
        report(w, runs, sizes, tools)
    for w in WORKLOADS:
        report_reader(w)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
