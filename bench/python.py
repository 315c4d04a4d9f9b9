#!/usr/bin/env python3
"""make bench, Python part, on pyenv's Python 3.12: two workloads, each untracked, under
memtap (native and Python frames merged, the default), under memtap --python-only (Python
frames and the allocating C function, no native unwinding), under heaptrack -r with
PYTHONMALLOC=malloc (the only way it sees Python's objects) and, when the interpreter has
it, under memray (default, and --trace-python-allocators), in alternation; both memtap modes
run a second time with --leak-scan, so the leak scan's share at exit shows:

- churn: bench/pywork.py, dict, list and str churn (about 18 M allocation calls);
- calls: bench/pycalls.py, 10 M calls of a one-line function (30 M small ints): what a
  tracker costs per Python call.

Prints medians of CPU time (the whole process tree) and the ratios beside their targets,
and each tool's capture bytes per allocation call (calls as memtap counts them) beside
heaptrack -r's.

usage: bench/python.py BUILD_DIR
env: ROUNDS=3, PYTHON=path, PYWORK_ROUNDS=60, PYCALLS=10000000, WORKLOADS=churn,calls
"""
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from measure import measure  # noqa: E402 - CPU time of a whole process tree

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
MEMTAP = os.path.join(BUILD, "memtap")
TMP = tempfile.mkdtemp(prefix="memtap-pybench-")

WORKLOADS = {
    "churn": (["pywork.py", os.environ.get("PYWORK_ROUNDS", "60")],
              {"memtap": (4.0, None), "memtap --python-only": (2.5, 2.0)}),
    "calls": (["pycalls.py", os.environ.get("PYCALLS", "10000000")],
              {"memtap": (3.0, None), "memtap --python-only": (2.5, 2.0)}),
}
SIZE_TARGET = 0.8  # capture bytes per allocation call against heaptrack -r's


def python312():
    if os.environ.get("PYTHON"):
        return os.environ["PYTHON"]
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else os.path.expanduser("~/.pyenv")
    return os.path.join(root, "versions", "3.12.1", "bin", "python3.12")


def setups(python, work, name):
    """name -> (command maker, files maker): the command of one run, and the files it
    wrote (its capture)."""
    def memtap(*opts):
        capture = os.path.join(TMP, f"{name}{''.join(opts).replace('-', '_')}.memtap")

        def cmd():
            if os.path.exists(capture):
                os.unlink(capture)
            return [MEMTAP, "run", *opts, "-o", capture, "--"] + work
        return cmd, lambda: [capture]

    def heaptrack(*opts):
        out = os.path.join(TMP, f"{name}{''.join(opts).replace('-', '_')}.heaptrack")

        def cmd():
            for f in glob.glob(out + "*"):
                os.unlink(f)
            return ["env", "PYTHONMALLOC=malloc", "heaptrack", *opts, "-o", out] + work
        return cmd, lambda: glob.glob(out + "*")

    def memray(*opts):
        out = os.path.join(TMP, f"{name}{''.join(opts).replace('-', '_')}.memray")
        return (lambda: [python, "-m", "memray", "run", "-q", "-f", *opts, "-o", out] +
                work[1:]), lambda: [out]

    s = {"untracked": (lambda: work, lambda: []), "memtap": memtap(),
         "memtap --python-only": memtap("--python-only"),
         # what the leak scan at exit costs (off in a plain run, on under --check)
         "memtap --leak-scan": memtap("--leak-scan"),
         "memtap --python-only --leak-scan": memtap("--python-only", "--leak-scan")}
    if shutil.which("heaptrack"):
        s["heaptrack -r (malloc)"] = heaptrack("-r")
    if subprocess.run([python, "-c", "import memray"], capture_output=True).returncode == 0:
        s["memray"] = memray()
        s["memray --trace-python-allocators"] = memray("--trace-python-allocators")
    return s


def run_workload(python, name):
    args, targets = WORKLOADS[name]
    work = [python, os.path.join(HERE, args[0])] + args[1:]
    runs = setups(python, work, name)
    cpu = {k: [] for k in runs}
    files = {}
    print(f"\nbench: Python 3.12, {name} ({' '.join(args)}), {ROUNDS} rounds in alternation")
    for r in range(ROUNDS):
        for setup, (cmd, written) in runs.items():
            cpu[setup].append(measure(cmd())[0])
            files[setup] = written()
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in cpu.items()))
    summary = subprocess.run([MEMTAP, "summary", "--json", files["memtap"][0]],
                             capture_output=True, text=True, check=True).stdout
    calls = json.loads(summary)["allocations"]
    size = {k: sum(os.path.getsize(f) for f in v) / calls for k, v in files.items() if v}
    ht = size.get("heaptrack -r (malloc)")
    base = statistics.median(cpu["untracked"])
    print(f"\n{'':34} {'cpu (median)':>13} {'ratio':>7} {'B/alloc':>8} {'vs ht -r':>8}")
    for setup, v in cpu.items():
        m = statistics.median(v)
        line = f"{setup:34} {m:12.2f}s {m / base:6.2f}x"
        if setup in size and not setup.startswith("memray"):
            line += f" {size[setup]:8.3f}"
            if ht and setup.startswith("memtap"):
                line += f" {size[setup] / ht:7.2f}x"
        if setup in targets:
            target, stretch = targets[setup]
            line += f"   cpu target <= {target}x" + (f" (stretch {stretch}x)" if stretch else "")
            if ht:
                line += f", size <= {SIZE_TARGET}x heaptrack -r"
        print(line)
    print(f"  ({calls:,} allocation calls as memtap counts them)")


def main():
    python = python312()
    if not os.access(python, os.X_OK):
        print(f"bench: Python benchmark skipped: no Python 3.12 at {python} (set PYTHON=...)")
        return
    print(f"bench: Python workloads under {python}")
    for name in os.environ.get("WORKLOADS", "churn,calls").split(","):
        run_workload(python, name)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
