#!/usr/bin/env python3
"""make bench, real-program part: gcc 12's cc1 compiling bench/gen_c.py's 7,000-line file
with -O2, untracked, under memtap and under heaptrack -r, in alternation. Prints CPU time
medians, ratios and capture bytes per allocation.

usage: bench/cc1.py BUILD_DIR   (env: ROUNDS=3, CC1=path)
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
from measure import measure  # noqa: E402 - CPU time of a whole process tree

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
MEMTAP = os.path.join(BUILD, "memtap")
TMP = tempfile.mkdtemp(prefix="memtap-cc1-")


def main():
    cc1 = os.environ.get("CC1") or subprocess.run(["gcc", "-print-prog-name=cc1"],
                                                  capture_output=True, text=True).stdout.strip()
    if not os.access(cc1, os.X_OK):
        print(f"bench: cc1 benchmark skipped: no cc1 at {cc1!r} (set CC1=...)")
        return
    src = os.path.join(TMP, "big.c")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "gen_c.py"), src], check=True)
    pre = os.path.join(TMP, "big.i")  # preprocessed once: cc1 alone knows no include paths
    subprocess.run(["gcc", "-E", src, "-o", pre], check=True)
    work = [cc1, "-quiet", "-fpreprocessed", "-O2", pre, "-o", os.path.join(TMP, "big.s")]
    capture = os.path.join(TMP, "cc1.memtap")
    ht = os.path.join(TMP, "cc1.heaptrack")

    def memtap():
        if os.path.exists(capture):
            os.unlink(capture)
        return [MEMTAP, "run", "-o", capture, "--"] + work

    def heaptrack():
        for f in glob.glob(ht + "*"):
            os.unlink(f)
        return ["heaptrack", "-r", "-o", ht] + work

    setups = {"untracked": lambda: work, "memtap": memtap}
    if shutil.which("heaptrack"):
        setups["heaptrack -r"] = heaptrack
    cpu = {k: [] for k in setups}
    sizes = {}
    print(f"bench: gcc cc1 -O2 on a 7,000-line file, {ROUNDS} rounds in alternation")
    for r in range(ROUNDS):
        for name, cmd in setups.items():
            cpu[name].append(measure(cmd())[0])
        sizes["memtap"] = os.path.getsize(capture)
        if "heaptrack -r" in setups:
            sizes["heaptrack -r"] = sum(os.path.getsize(f) for f in glob.glob(ht + "*"))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in cpu.items()))
    calls = json.loads(subprocess.run([MEMTAP, "summary", "--json", capture], capture_output=True,
                                      text=True, check=True).stdout)["allocations"]
    base = statistics.median(cpu["untracked"])
    print(f"\n{'':14} {'cpu (median)':>13} {'ratio':>7} {'capture':>10} {'B/alloc':>8}")
    for name, v in cpu.items():
        m = statistics.median(v)
        size = sizes.get(name)
        print(f"{name:14} {m:12.2f}s {m / base:6.2f}x " +
              (f"{size / 1e6:8.1f}MB {size / calls:8.2f}" if size else ""))
    if "heaptrack -r" in cpu:
        print(f"\nmemtap / heaptrack -r cpu: {statistics.median(cpu['memtap']) / statistics.median(cpu['heaptrack -r']):.2f}x "
              f"(target <= 1); capture size ratio {sizes['memtap'] / sizes['heaptrack -r']:.2f}x (target <= 0.8)")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
