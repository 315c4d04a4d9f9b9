#!/usr/bin/env python3
"""make bench, Python part: bench/pywork.py (dict, list and str churn) under pyenv's
Python 3.12 untracked, under memtap (native and Python frames merged, the default), under
memtap --python-only (Python frames and the PyMem allocators, no native unwinding), and
under heaptrack with PYTHONMALLOC=malloc (the only way it sees Python's allocations), in
alternation. Prints medians of CPU time and the ratios beside the targets of issue 4, and
each tool's capture bytes per allocation call (calls as memtap counts them).

usage: bench/python.py BUILD_DIR   (env: ROUNDS=3, PYTHON=path, PYWORK_ROUNDS=60)
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
TMP = tempfile.mkdtemp(prefix="memtap-pybench-")


def python312():
    if os.environ.get("PYTHON"):
        return os.environ["PYTHON"]
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else os.path.expanduser("~/.pyenv")
    return os.path.join(root, "versions", "3.12.1", "bin", "python3.12")


def main():
    python = python312()
    if not os.access(python, os.X_OK):
        print(f"bench: Python benchmark skipped: no Python 3.12 at {python} (set PYTHON=...)")
        return
    work = [python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "pywork.py"),
            os.environ.get("PYWORK_ROUNDS", "60")]
    outputs = {}  # setup name -> the files its last run wrote

    def memtap(*opts):
        capture = os.path.join(TMP, "py" + "".join(opts).replace("-", "_") + ".memtap")

        def cmd():
            if os.path.exists(capture):
                os.unlink(capture)
            return [MEMTAP, "run", *opts, "-o", capture, "--"] + work
        return cmd, lambda: [capture]

    def heaptrack(*opts):
        ht = os.path.join(TMP, "py" + "".join(opts).replace("-", "_") + ".heaptrack")

        def cmd():
            for f in glob.glob(ht + "*"):
                os.unlink(f)
            return ["env", "PYTHONMALLOC=malloc", "heaptrack", *opts, "-o", ht] + work
        return cmd, lambda: glob.glob(ht + "*")

    setups = {"untracked": (lambda: work, lambda: []), "memtap": memtap(),
              "memtap --python-only": memtap("--python-only")}
    if shutil.which("heaptrack"):
        setups["heaptrack (malloc)"] = heaptrack()
        setups["heaptrack -r (malloc)"] = heaptrack("-r")
    cpu = {k: [] for k in setups}
    print(f"bench: Python 3.12 dict/list/str churn, {ROUNDS} rounds in alternation ({python})")
    for r in range(ROUNDS):
        for name, (cmd, files) in setups.items():
            cpu[name].append(measure(cmd())[0])
            outputs[name] = files()
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in cpu.items()))
    base = statistics.median(cpu["untracked"])
    targets = {"memtap": "target <= 5x (native frames merged)",
               "memtap --python-only": "target <= 3x (PyMem + Python stacks)"}
    summary = subprocess.run([MEMTAP, "summary", "--json", outputs["memtap"][0]],
                             capture_output=True, text=True, check=True).stdout
    calls = json.loads(summary)["allocations"]
    sizes = {k: sum(os.path.getsize(f) for f in v) for k, v in outputs.items() if v}
    print(f"\n{'':24} {'cpu (median)':>13} {'ratio':>7} {'capture':>10} {'B/alloc':>8}")
    for name, v in cpu.items():
        m = statistics.median(v)
        size = (f"{sizes[name] / 1e6:8.1f}MB {sizes[name] / calls:8.2f}" if name in sizes
                else " " * 19)
        print(f"{name:24} {m:12.2f}s {m / base:6.2f}x {size}  {targets.get(name, '')}")
    if "heaptrack (malloc)" in cpu:
        h = statistics.median(cpu["heaptrack (malloc)"])
        m = statistics.median(cpu["memtap"])
        print(f"\nmemtap / heaptrack (PYTHONMALLOC=malloc) cpu: {m / h:.2f}x (target <= 1); "
              f"capture size ratio against -r {sizes['memtap'] / sizes['heaptrack -r (malloc)']:.2f}x "
              f"(target <= 0.5), against heaptrack's interpreted file "
              f"{sizes['memtap'] / sizes['heaptrack (malloc)']:.2f}x ({calls:,} allocation calls)")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
