"""Threads, forks and execs under `memtap run`: frees across threads, reused addresses,
forked children's own captures, --no-children, execs continuing the capture in a new
image, and no thread of memtap's own in the program."""
import json
import os

import pytest

from memtap_e2e import children_of, line_of, site_at


def test_threads_cross_frees(prog, memtap_run, report):
    out, p = memtap_run("threads", [prog("threads")])
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["threads"] >= 5, s["threads"]  # main + 4 workers all allocate
    leaks = report("leaks", out)["leaks"]
    worker = site_at(leaks, "threads.c", line_of("threads.c", "LEAK:worker"), "worker")
    assert worker["blocks"] == 4 * 7 and worker["bytes"] == 4 * 7 * 1000, worker
    top = report("top", out, "--by", "count", "--limit", "0")["sites"]
    handed = site_at(top, "threads.c", line_of("threads.c", "FREED_BY_MAIN"), "worker")
    assert handed["count"] == 4 * 5000, handed["count"]
    assert handed["total_bytes"] == 5000 * (64 + 65 + 66 + 67), handed["total_bytes"]
    assert handed["leaked_blocks"] == 0, "blocks freed by another thread must not leak"
    assert s["frees"] >= 4 * 5000


def test_threads_reuse_addresses_across_threads(prog, memtap_run, report, reader, run):
    """Frees in one thread, reuses of the same addresses in another, at full speed: the
    reader must put every free before the reuse (format v3 orders records by key)."""
    blocks = 100000
    out, p = memtap_run("pingpong", [prog("pingpong"), str(blocks)], timeout=120)
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["complete"] is True
    assert s["unmatched_frees"] == 0, "a free came after the reuse of its address"
    top = report("top", out, "--by", "count", "--limit", "0")["sites"]
    produced = site_at(top, "pingpong.c", line_of("pingpong.c", "PINGPONG:produce"), "producer")
    assert produced["count"] == 2 * blocks, produced
    assert produced["total_bytes"] == 2 * sum(24 + (i % 5) * 8 for i in range(blocks)), produced
    assert produced["leaked_blocks"] == 0, produced
    consumed = site_at(top, "pingpong.c", line_of("pingpong.c", "PINGPONG:consume"), "consumer")
    assert consumed["count"] == 2 * ((blocks + 63) // 64) and consumed["leaked_blocks"] == 0, \
        consumed
    assert s["threads"] == 5, s["thread_names"]
    # on one core the reader decodes and replays on one thread: the same report
    one_core = run([reader, "top", "--json", "--by", "count", "--limit", "0", out],
                   preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
    assert one_core.returncode == 0, one_core.stderr
    assert json.loads(one_core.stdout)["sites"] == top, "one core and two disagree"


def test_threads_fork_and_failing_exec_together(prog, memtap_run, report):
    out, p = memtap_run("stress", [prog("stress")], timeout=120)
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["complete"] is True
    assert s["images"] == 1, "a failed exec does not start a new image"
    assert s["frames"] > 1, "failed execs continue the image in new frames"
    # main and 4 workers (the exec loop allocates nothing)
    assert s["threads"] == 5, s["thread_names"]
    # every call recorded: each worker's 20,000 mallocs, 20 realloc(NULL, 100) (malloc's
    # kind) and 3 leaks; a record lost while a failing exec ends a frame shows here first
    m = s["by_allocator"]["malloc"]
    assert m["allocations"] == 4 * (20000 + 20 + 3) and m["frees"] == m["allocations"] - 4 * 3, m
    leaks = report("leaks", out)["leaks"]
    site = site_at(leaks, "stress.c", line_of("stress.c", "LEAK:stress"), "worker")
    assert site["blocks"] == 4 * 3 and site["bytes"] == 4 * 3 * 777, site
    workers = [x for x in leaks if any(f["function"] == "worker" for f in x["stack"])]
    assert len(workers) == 1, "every block the workers freed is freed in the capture"
    assert not children_of(out), "one capture for the run: no file beside it"
    children = [x for x in s["processes"] if x["ppid"] == s["pid"]]
    assert len(children) == 20, len(children)
    for c in children:
        cs = report("summary", out, "--pid", str(c["pid"]))
        assert cs["complete"] is True and cs["leaked_bytes"] >= 55, cs


def test_fork_child_capture(prog, memtap_run, report):
    """A forked child is a process of the one capture, read with --pid; nothing beside it."""
    out, p = memtap_run("fork", [prog("forker")])
    assert p.returncode == 0, p.stderr
    assert not children_of(out), children_of(out)
    assert "2 processes" in p.stderr, p.stderr
    s = report("summary", out)
    parent_leaks = report("leaks", out)["leaks"]
    site_at(parent_leaks, "forker.c", line_of("forker.c", "LEAK:parent"), "parent_leak")
    assert not [x for x in parent_leaks if any(f["function"] == "child_leak" for f in x["stack"])]
    child = [x for x in s["processes"] if x["ppid"] == s["pid"]]
    assert len(child) == 1, s["processes"]
    child_leaks = report("leaks", out, "--pid", str(child[0]["pid"]))["leaks"]
    c = site_at(child_leaks, "forker.c", line_of("forker.c", "LEAK:child"), "child_leak")
    assert c["blocks"] == 5 and c["bytes"] == 5 * 222
    cs = report("summary", out, "--pid", str(child[0]["pid"]))
    assert cs["complete"] is True and cs["ppid"] == s["pid"]


def test_bare_preload_fork_child_writes_its_own_file(prog, run, report, tmp_path):
    """Without memtap run (LD_PRELOAD alone, no collector), a forked child writes
    CAPTURE.<pid> beside the parent's capture."""
    out = str(tmp_path / "bare.memtap")
    env = dict(os.environ, LD_PRELOAD=os.path.join(os.path.dirname(prog("forker")), "..",
                                                    "libmemtap.so"), MEMTAP_OUTPUT=out)
    env.pop("MEMTAP_COLLECTOR", None)
    p = run([prog("forker")], env=env)
    assert p.returncode == 0, p.stderr
    children = children_of(out)
    assert len(children) == 1, children
    c = site_at(report("leaks", children[0])["leaks"], "forker.c",
                line_of("forker.c", "LEAK:child"), "child_leak")
    assert c["blocks"] == 5 and c["bytes"] == 5 * 222
    site_at(report("leaks", out)["leaks"], "forker.c", line_of("forker.c", "LEAK:parent"),
            "parent_leak")


def test_no_children_tracks_the_program_only(prog, memtap_run, report):
    """--no-children: forked children write nothing; the program itself is tracked whole."""
    out, p = memtap_run("nochild", [prog("forker")], "--no-children")
    assert p.returncode == 0, p.stderr
    assert not children_of(out), children_of(out)
    s = report("summary", out)
    assert s["complete"] is True and len(s["processes"]) == 1, s["processes"]
    leaks = report("leaks", out)["leaks"]
    site_at(leaks, "forker.c", line_of("forker.c", "LEAK:parent"), "parent_leak")


def test_no_children_follows_execs(prog, memtap_run, report, tmp_path):
    """--no-children: a shell script that forks, then execs into the program: still one
    capture, both images in it."""
    script = tmp_path / "nochild.sh"
    script.write_text(f"#!/bin/sh\necho $(echo forked by the shell) >/dev/null\n"
                      f"exec {prog('forker')}\n")
    script.chmod(0o755)
    out, p = memtap_run("nochild-sh", [str(script)], "--no-children")
    assert p.returncode == 0, p.stderr
    assert not children_of(out), children_of(out)
    assert report("summary", out)["images"] == 2


def test_exec_continues_capture(prog, memtap_run, report):
    out, p = memtap_run("exec", [prog("execer")])
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["images"] == 2 and s["complete"] is True, s
    assert s["command"].endswith("execer second"), s["command"]
    leaks = report("leaks", out)["leaks"]
    assert len(leaks) == 1, leaks
    assert leaks[0]["blocks"] == 4 and leaks[0]["bytes"] == 4 * 333
    site_at(leaks, "execer.c", line_of("execer.c", "LEAK:second"), "main")
    assert s["allocations"] >= 13 and s["leaked_bytes"] == 4 * 333


def test_exec_through_shell(prog, memtap_run, report, tmp_path):
    script = tmp_path / "wrapper.sh"
    script.write_text(f"#!/bin/sh\nexec {prog('execer')} second\n")
    script.chmod(0o755)
    out, p = memtap_run("shim", [str(script)])
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)["leaks"]
    site = site_at(leaks, "execer.c", line_of("execer.c", "LEAK:second"), "main")
    assert site["bytes"] == 4 * 333
    assert report("summary", out)["images"] == 2


def test_no_thread_of_our_own(memtap_run):
    out, p = memtap_run("onethread", ["grep", "Threads", "/proc/self/status"])
    assert p.stdout == "Threads:\t1\n", p.stdout  # grep, tracked, sees itself alone


def test_user_namespace_can_be_entered(prog, memtap_run, run):
    """A helper thread of ours would make unshare(CLONE_NEWUSER) fail (and Python warn at
    fork)."""
    if run(["unshare", "-U", "true"]).returncode != 0:
        pytest.skip("unshare -U is not allowed here")
    out, p = memtap_run("unshare", ["unshare", "-U", prog("passthrough"), "6"])
    assert p.returncode == 6 and p.stdout == "arg 1: 6\n", (p.returncode, p.stderr)


@pytest.mark.parametrize("threads", ["", "thread"])
def test_seccomp_sandbox_survives(prog, memtap_run, report, threads):
    """A program that forbids a syscall it never makes (membarrier, killed by seccomp)
    must run to its end under memtap: the library may not add syscalls a sandbox denies
    to the program's paths or its exit."""
    out, p = memtap_run("sandboxed", [prog("sandboxed"), threads])
    assert p.returncode == 0, (p.returncode, p.stderr)
    s = report("summary", out)
    assert s["complete"] is True
    leaks = report("leaks", out)["leaks"]
    kept = site_at(leaks, "sandboxed.c", line_of("sandboxed.c", "SANDBOXED:leak"), "main")
    assert kept["blocks"] == 1 and kept["bytes"] == 4321, kept
