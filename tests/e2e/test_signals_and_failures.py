"""What goes wrong: programs killed, terminated or crashing (the capture stays readable),
a full disk or an unwritable path (the program runs on untracked), corrupt, truncated or
foreign files (the reader says where and why), statically linked programs."""
import json
import os
import re
import signal
import time

from memtap_e2e import line_of, site_at


def program_pids(run, proc):
    """The pids of the program `memtap run` (proc) started."""
    return run(["pgrep", "-P", str(proc.pid)]).stdout.split()


def test_killed_program_leaves_readable_capture(prog, memtap, reader, run, spawn, report,
                                                tmp_path):
    out = str(tmp_path / "killed.memtap")
    proc = spawn([memtap, "run", "-o", out, "--", prog("sleeper")])
    assert proc.stdout.readline() == "ready\n"
    deadline = time.time() + 20  # the flush thread writes within 500 ms; allow a loaded CI
    while os.path.getsize(out) < 400 and time.time() < deadline:
        time.sleep(0.1)
    pids = program_pids(run, proc)
    assert len(pids) == 1, pids
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL, proc.returncode
    p = run([reader, "summary", "--json", out])
    assert p.returncode == 0, p.stderr
    assert "incomplete capture" in p.stderr
    s = json.loads(p.stdout)
    assert s["complete"] is False
    leaks = report("leaks", out)["leaks"]
    site = site_at(leaks, "sleeper.c", line_of("sleeper.c", "LEAK:sleeper"), "main")
    assert site["blocks"] == 50 and site["bytes"] == 50 * 4096, site


def test_killed_threaded_program_leaves_readable_capture(prog, memtap, reader, run, spawn,
                                                         tmp_path):
    """SIGKILL while four threads record into their own buffers: the file holds whatever
    chunks reached it, and reads as incomplete, never as corrupt (three kills, each later
    in the run than the last)."""
    for attempt in range(3):
        out = str(tmp_path / f"killed_threads{attempt}.memtap")
        proc = spawn([memtap, "run", "-o", out, "--", prog("pingpong"), "100000000"])
        deadline = time.time() + 20
        while (not os.path.exists(out) or os.path.getsize(out) < 200000 * (attempt + 1)) \
                and time.time() < deadline:
            time.sleep(0.05)
        for pid in program_pids(run, proc):
            os.kill(int(pid), signal.SIGKILL)
        proc.wait(timeout=30)
        p = run([reader, "summary", "--json", out])
        assert p.returncode == 0, p.stderr
        s = json.loads(p.stdout)
        assert s["complete"] is False and s["allocations"] > 10000, s


def test_sigterm_flushes_everything(prog, memtap, run, spawn, report, tmp_path):
    out = str(tmp_path / "term.memtap")
    proc = spawn([memtap, "run", "-o", out, "--", prog("sleeper")])
    assert proc.stdout.readline() == "ready\n"
    pids = program_pids(run, proc)
    os.kill(int(pids[0]), signal.SIGTERM)  # at once: nothing was flushed by the timer yet
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, proc.returncode
    leaks = report("leaks", out)
    assert leaks["complete"] is False
    site = site_at(leaks["leaks"], "sleeper.c", line_of("sleeper.c", "LEAK:sleeper"), "main")
    assert site["blocks"] == 50


def test_segfault_keeps_records(prog, memtap_run, report):
    out, p = memtap_run("segv", [prog("crasher")])
    assert p.returncode == 128 + signal.SIGSEGV, p.returncode
    s = report("summary", out)
    assert s["complete"] is False
    assert s["thread_names"] == ["crash-main"], s["thread_names"]
    site = site_at(report("leaks", out)["leaks"], "crasher.c",
                   line_of("crasher.c", "LEAK:crasher"), "main")
    assert site["blocks"] == 10 and site["bytes"] == 12340


def test_full_disk_turns_tracking_off(prog, memtap, run):
    p = run([memtap, "run", "--force", "-o", "/dev/full", "--", prog("passthrough"), "5", "x"])
    assert p.returncode == 5, (p.returncode, p.stderr)
    assert p.stdout == "arg 1: 5\narg 2: x\n", repr(p.stdout)
    lines = [x for x in p.stderr.splitlines() if x.startswith("memtap:")]
    assert len(lines) == 1, p.stderr
    assert "No space left on device" in lines[0] and "tracking is off" in lines[0], lines[0]


def test_unwritable_directory(prog, memtap, run, tmp_path):
    if os.getuid() == 0:  # root writes anywhere: a path below a regular file fails for all
        target = os.path.join(prog("passthrough"), "x.memtap")
        reason = "Not a directory"
    else:
        d = tmp_path / "readonly"
        d.mkdir()
        d.chmod(0o555)
        target = str(d / "x.memtap")
        reason = "Permission denied"
    p = run([memtap, "run", "-o", target, "--", prog("passthrough"), "3"])
    assert p.returncode == 3, (p.returncode, p.stderr)
    assert p.stdout == "arg 1: 3\n"
    assert f"memtap: cannot create capture {target}: {reason}; running" in p.stderr, p.stderr
    assert "capture written" not in p.stderr


def test_static_program_is_explained(prog, memtap_run):
    out, p = memtap_run("static", [prog("static"), "4"])
    assert p.returncode == 4 and p.stdout == "arg 1: 4\n", (p.returncode, p.stdout)
    lines = [x for x in p.stderr.splitlines() if x.startswith("memtap:")]
    assert len(lines) == 1 and "ran untracked: it is statically linked" in lines[0], p.stderr
    assert not os.path.exists(out), "no empty file passed off as a capture"


def test_corrupt_capture_names_the_byte(prog, memtap_run, reader, run, tmp_path):
    out, p = memtap_run("corrupt", [prog("known_leaks")])
    assert p.returncode == 0, p.stderr
    data = bytearray(open(out, "rb").read())
    bad = tmp_path / "bad.memtap"
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(data)
    p = run([reader, "summary", str(bad)])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert re.fullmatch(r"memtap: .*bad\.memtap: corrupt capture at byte \d+: .*\n", p.stderr), \
        p.stderr


def test_not_a_capture(reader, run, tmp_path):
    text = tmp_path / "text.memtap"
    text.write_text("hello, not a capture\n")
    p = run([reader, "leaks", str(text)])
    assert p.returncode == 1 and "not a memtap capture" in p.stderr, p.stderr


def test_missing_capture(reader, run, tmp_path):
    p = run([reader, "summary", str(tmp_path / "does-not-exist.memtap")])
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "No such file" in p.stderr, \
        p.stderr


def test_report_unknown_option_and_command(prog, memtap_run, reader, run):
    out, p = memtap_run("options", [prog("passthrough")])
    assert p.returncode == 0, p.stderr
    p = run([reader, "summary", "--bogus", out])
    assert p.returncode == 2 and "unknown option '--bogus'" in p.stderr, p.stderr
    p = run([reader, "frobnicate"])
    assert p.returncode == 2 and "unknown command" in p.stderr


def test_truncated_capture_is_incomplete(prog, memtap_run, reader, run, tmp_path):
    out, p = memtap_run("trunc", [prog("threads")])
    assert p.returncode == 0, p.stderr
    data = open(out, "rb").read()
    cut = tmp_path / "cut.memtap"
    cut.write_bytes(data[: len(data) - 64])  # loses the last block and the end mark
    p = run([reader, "summary", "--json", str(cut)])
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["complete"] is False
    assert "incomplete capture" in p.stderr
