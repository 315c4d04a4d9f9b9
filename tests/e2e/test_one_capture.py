"""One run, one capture (memtap run's collector): a process tree in one file, each process
exact through --pid; descriptors closed by the program lose nothing; a quiet SIGKILL loses
nothing recorded; a vfork child leaves its parent tracking; mode 0600; the tree under
stress."""
import os
import signal
import stat
import time

import pytest

from memtap_e2e import children_of, line_of, site_at


def sites_at(report, out, source, tag, function, pid=None):
    extra = ("--pid", str(pid)) if pid else ()
    return site_at(report("leaks", out, *extra)["leaks"], source, line_of(source, tag), function)


def test_a_shell_running_two_leaking_programs(prog, memtap_run, report, tmp_path):
    """sh runs closer twice: one capture, the shell and both children in it, each child's
    leaks exact through --pid, nothing beside the capture."""
    out, p = memtap_run("sh2", ["sh", "-c", f"{prog('closer')}; {prog('closer')}"])
    assert p.returncode == 0, p.stderr
    assert "3 processes" in p.stderr, p.stderr
    assert not children_of(out), children_of(out)
    s = report("summary", out)
    kids = [x for x in s["processes"] if x["ppid"] == s["pid"]]
    assert len(kids) == 2 and all(k["command"].endswith("closer") for k in kids), kids
    for k in kids:
        before = sites_at(report, out, "closer.c", "LEAK:before", "before", k["pid"])
        after = sites_at(report, out, "closer.c", "LEAK:after", "after", k["pid"])
        assert (before["blocks"], before["bytes"]) == (10, 10 * 111)
        assert (after["blocks"], after["bytes"]) == (20, 20 * 222)


def test_closed_descriptors_lose_nothing(prog, memtap_run, report):
    """close_range(3, ~0U) and dup2 over descriptor 3 between two leaks: both recorded."""
    out, p = memtap_run("closer", [prog("closer")])
    assert p.returncode == 0, p.stderr
    assert sites_at(report, out, "closer.c", "LEAK:before", "before")["blocks"] == 10
    assert sites_at(report, out, "closer.c", "LEAK:after", "after")["blocks"] == 20
    assert report("summary", out)["complete"] is True


def test_a_quiet_sigkill_loses_nothing(prog, memtap, spawn, report, tmp_path):
    """5,000 allocations, then computing without allocating or blocking; SIGKILL 1.5 s later:
    every allocation is in the capture (taken from the dead process's buffers)."""
    out = str(tmp_path / "spin.memtap")
    p = spawn([memtap, "run", "-o", out, "--", prog("spinner"), "5000"])
    assert p.stdout.readline() == "ready\n"
    time.sleep(1.5)
    child = [int(x) for x in os.popen(f"pgrep -P {p.pid}").read().split()]
    assert len(child) == 1, child
    os.kill(child[0], signal.SIGKILL)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 128 + signal.SIGKILL, err
    s = report("summary", out)
    # 5,000 blocks and stdout's buffer (printf)
    assert s["complete"] is False and s["allocations"] == 5001, s
    spin = sites_at(report, out, "spinner.c", "LEAK:spin", "main")
    assert (spin["blocks"], spin["bytes"]) == (5000, 5000 * 64)


def test_vfork_then_exec_leaves_the_parent_tracked(prog, memtap_run, report, run, tmp_path):
    """A vfork child's exec changes nothing of its parent's: the parent's later leaks and
    its end are recorded, under memtap run and with LD_PRELOAD alone."""
    out, p = memtap_run("vfork", [prog("vforker")])
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["complete"] is True, s
    leak = sites_at(report, out, "vforker.c", "LEAK:after_vfork", "main")
    assert (leak["blocks"], leak["bytes"]) == (7, 7 * 555)
    bare = str(tmp_path / "bare.memtap")
    env = dict(os.environ, LD_PRELOAD=os.path.join(os.path.dirname(prog("vforker")), "..",
                                                    "libmemtap.so"), MEMTAP_OUTPUT=bare)
    assert run([prog("vforker")], env=env).returncode == 0
    assert report("summary", bare)["complete"] is True
    assert sites_at(report, bare, "vforker.c", "LEAK:after_vfork", "main")["blocks"] == 7


def test_a_program_that_allocates_nothing(memtap_run, report, reader, run):
    out, p = memtap_run("true", ["/bin/true"])
    assert p.returncode == 0, p.stderr
    r = run([reader, "summary", out])
    assert r.returncode == 0, r.stderr
    s = report("summary", out)
    assert s["complete"] is True and s["leaked_bytes"] == 0


def test_capture_mode_0600(prog, memtap_run, tmp_path):
    out, p = memtap_run("mode", [prog("known_leaks")])
    assert p.returncode == 0, p.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_process_tree_under_stress(prog, memtap, run, report, tmp_path):
    """Threads, forks, execs and SIGKILLs at once, 25 runs: memtap run never hangs, and
    every process that exited made all its records: 400 leaked 48-byte blocks in its
    threads, 5 of 77 bytes in main, 200 frees (the full several-hundred-run check is in
    docs/performance.md)."""
    for seed in range(1, 26):
        out = str(tmp_path / f"tree{seed}.memtap")
        p = run([memtap, "run", "-o", out, "--", prog("tree"), "2", str(seed)], timeout=60)
        assert p.returncode == 0, p.stderr
        s = report("summary", out)
        done = [x for x in s["processes"] if x["complete"]]
        assert len(done) >= 7, s["processes"]
        for x in done:
            leaks = report("leaks", out, "--pid", str(x["pid"]))["leaks"]
            w = site_at(leaks, "tree.c", line_of("tree.c", "LEAK:worker"), "worker")
            m = site_at(leaks, "tree.c", line_of("tree.c", "LEAK:main"), "run")
            assert (w["blocks"], m["blocks"]) == (400, 5), (seed, x)
            assert report("summary", out, "--pid", str(x["pid"]))["frees"] == 200
