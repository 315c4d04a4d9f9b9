#!/usr/bin/env python3
"""The process-tree stress check, longer than `make test` runs it (test_one_capture.py):
N runs of tests/e2e/progs/tree.c under `memtap run` (threads, forks, execs and SIGKILLs at
once); each must end within 60 s, and every process that exited normally must hold its
400 + 5 leaked blocks and 200 frees exactly.

usage: tests/e2e/stress_tree.py BUILD_DIR [RUNS] (default 300)"""
import json
import os
import subprocess
import sys
import tempfile

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
MEMTAP = os.path.join(BUILD, "memtap")
TREE = os.path.join(BUILD, "e2e", "tree")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs", "tree.c")
TAGGED = {n for n, line in enumerate(open(SRC), 1) if "LEAK:worker" in line or "LEAK:main" in line}


def report(*args):
    return json.loads(subprocess.run([MEMTAP, *args], capture_output=True, text=True,
                                     check=True).stdout)


def main():
    bad = processes = killed = 0
    with tempfile.TemporaryDirectory(prefix="memtap-stress-") as tmp:
        for seed in range(1, RUNS + 1):
            out = os.path.join(tmp, f"{seed}.memtap")
            p = subprocess.run([MEMTAP, "run", "-o", out, "--", TREE, "2", str(seed)],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                print(f"run {seed}: exit {p.returncode}: {p.stderr}")
                bad += 1
                continue
            s = report("summary", "--json", out)
            for x in s["processes"]:
                processes += 1
                if not x["complete"]:
                    killed += 1
                    continue
                pid = str(x["pid"])
                frees = report("summary", "--json", "--pid", pid, out)["frees"]
                leaks = report("leaks", "--json", "--pid", pid, out)["leaks"]
                blocks = sorted(l["blocks"] for l in leaks
                                if any((f["file"] or "").endswith("tree.c") and
                                       f["line"] in TAGGED for f in l["stack"]))
                if frees != 200 or blocks != [5, 400]:
                    print(f"run {seed} pid {pid}: frees {frees}, tagged leaks {blocks}")
                    bad += 1
            os.unlink(out)
    print(f"{RUNS} runs, {processes} processes ({killed} killed by the program), "
          f"{bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
