"""One run, one capture: the processes of a capture in the reports. The golden captures in
pieces (tests/golden/pieces_*.hex, written by hand from docs/format.md) are made into files
here and read by the memtap command: the process tree in summary (text and JSON), --pid in
every report, an unknown pid, the other processes that leaked named on stderr, a killed
process. The last tests run real programs under `memtap run`, whose collector writes the
processes of the run into one file."""
import json
import os
import re
import struct

from memtap_e2e import line_of, site_at

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")


def lz4_frame(content, whole=True):
    """content as an LZ4 frame of uncompressed blocks: 64 KiB blocks, no checksums (FLG 0x60,
    BD 0x40, whose header checksum is 0x82)."""
    out = bytearray(b"\x04\x22\x4d\x18\x60\x40\x82")
    for at in range(0, len(content), 65536):
        block = content[at:at + 65536]
        out += struct.pack("<I", len(block) | 0x80000000) + block
    if whole:
        out += b"\x00\x00\x00\x00"
    return bytes(out)


def golden_capture(name, tmp_path):
    """tests/golden/NAME.hex as a capture file (see tests/golden/README.md); its path."""
    segments = []
    for line in open(os.path.join(GOLDEN, name + ".hex")):
        line = line.split("#")[0].strip()
        if line.startswith("@file") or line.startswith("@lz4"):
            segments.append([line[1:4], bytearray(), True])
        elif line.startswith("@unfinished"):
            segments[-1][2] = False
        elif line and not line.startswith("@"):
            segments[-1][1] += bytes(int(b, 16) for b in line.split())
    data = b"".join(bytes(b) if kind == "fil" else lz4_frame(bytes(b), whole)
                    for kind, b, whole in segments)
    path = tmp_path / (name + ".memtap")
    path.write_bytes(data)
    return str(path)


def test_summary_lists_the_processes_as_a_tree(reader, run, report, tmp_path):
    cap = golden_capture("pieces_two_processes", tmp_path)
    p = run([reader, "summary", cap])
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "Process          pid 1000, 1 thread" in p.stdout, p.stdout
    lines = p.stdout[p.stdout.index("\nProcesses (2;"):].splitlines()[1:]
    assert re.fullmatch(r" +pid +parent +duration +allocations +peak +leaked +command", lines[1])
    assert re.fullmatch(r"\* +1000 +1 +0\.01 s +2 +32 B +16 B  prog", lines[2]), lines
    assert re.fullmatch(r" +1001 +1000 +0\.00 s +1 +100 B +100 B    prog child", lines[3]), lines
    s = report("summary", cap)
    assert [(x["pid"], x["ppid"], x["allocations"], x["leaked_bytes"], x["complete"])
            for x in s["processes"]] == [(1000, 1, 2, 16, True), (1001, 1000, 1, 100, True)]
    assert s["processes"][0]["root"] is True and "root" not in s["processes"][1]


def test_pid_chooses_the_process_of_every_report(reader, run, report, tmp_path):
    cap = golden_capture("pieces_two_processes", tmp_path)
    s = report("summary", cap, "--pid", "1001")
    assert (s["pid"], s["ppid"], s["allocations"], s["leaked_bytes"], s["unmatched_frees"]) == \
        (1001, 1000, 1, 100, 1), s
    assert report("leaks", cap, "--pid", "1001")["leaked_bytes"] == 100
    top = report("top", cap, "--pid", "1001", "--by", "leaked")
    assert top["pid"] == 1001 and [x["leaked_bytes"] for x in top["sites"]] == [100]
    assert report("leaks", cap)["pid"] == 1000, "the root without --pid"


def test_an_unknown_pid_lists_the_processes(reader, run, tmp_path):
    cap = golden_capture("pieces_two_processes", tmp_path)
    for cmd in ("summary", "leaks", "top"):
        p = run([reader, cmd, "--pid", "4242", cap])
        assert p.returncode == 2 and p.stdout == "", (cmd, p.returncode, p.stdout)
        assert p.stderr == f"memtap: {cap} has no process 4242 (processes: 1000, 1001)\n"
    p = run([reader, "leaks", "--pid", "-3", cap])
    assert p.returncode == 2 and "--pid takes a process id" in p.stderr, p.stderr


def test_other_processes_that_leaked_are_named(reader, run, tmp_path):
    cap = golden_capture("pieces_two_processes", tmp_path)
    note = (f"memtap: process 1001 (prog child) leaked 100 B in 1 block: "
            f"memtap leaks --pid 1001 {cap}\n")
    for cmd in ("leaks", "top"):
        p = run([reader, cmd, cap])
        assert p.returncode == 0 and p.stderr == note, (cmd, p.stderr)
    p = run([reader, "leaks", "--pid", "1000", cap])
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_a_killed_process_is_incomplete_with_its_signal(reader, run, report, tmp_path):
    cap = golden_capture("pieces_killed", tmp_path)
    p = run([reader, "summary", "--json", cap])
    assert p.returncode == 0, p.stderr
    assert p.stderr == (f"memtap: {cap}: incomplete capture (process 3000 was killed by "
                        "signal 9); figures cover what was written\n"), p.stderr
    s = json.loads(p.stdout)
    assert (s["complete"], s["killed_by"], s["images"], s["allocations"], s["leaked_bytes"]) == \
        (False, 9, 2, 4, 96), s
    p = run([reader, "summary", cap])
    assert "(INCOMPLETE: killed by signal 9)" in p.stdout, p.stdout


# ---- real programs: the collector of `memtap run` writes every process into one file ----

def test_a_forked_child_is_a_process_of_the_capture(prog, memtap_run, reader, run, report):
    out, p = memtap_run("fork-tree", [prog("forker")])
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    procs = s["processes"]
    assert len(procs) == 2, procs
    root, child = procs
    assert root["root"] is True and root["pid"] == s["pid"], procs
    assert child["ppid"] == root["pid"] and child["depth"] == 1, procs
    assert child["complete"] is True and child["leaked_bytes"] >= 5 * 222, child
    leaks = report("leaks", out, "--pid", str(child["pid"]))["leaks"]
    c = site_at(leaks, "forker.c", line_of("forker.c", "LEAK:child"), "child_leak")
    assert c["blocks"] == 5 and c["bytes"] == 5 * 222
    p = run([reader, "leaks", out])
    assert p.returncode == 0, p.stderr
    assert f"memtap leaks --pid {child['pid']} {out}" in p.stderr, p.stderr
    site_at(json.loads(run([reader, "leaks", "--json", out]).stdout)["leaks"], "forker.c",
            line_of("forker.c", "LEAK:parent"), "parent_leak")


def test_helpers_of_a_shim_appear_in_the_list_only(prog, memtap_run, reader, run, report,
                                                   tmp_path):
    """A shell script that runs helpers, then execs the program (as pyenv's shims do): the
    reports show the program, through the exec; the helpers are in summary's list, and
    nowhere else."""
    script = tmp_path / "shim.sh"
    script.write_text("#!/bin/sh\n" + "/bin/true\n" * 5 + f"exec {prog('execer')} second\n")
    script.chmod(0o755)
    out, p = memtap_run("shim-helpers", [str(script)])
    assert p.returncode == 0, p.stderr
    s = report("summary", out)
    assert s["command"].endswith("execer second") and s["images"] == 2, s
    assert s["leaked_bytes"] == 4 * 333, s
    procs = s["processes"]
    assert len(procs) == 6 and procs[0]["pid"] == s["pid"], procs
    helpers = procs[1:]
    assert all(h["ppid"] == s["pid"] and h["command"] == "/bin/true" and h["complete"]
               for h in helpers), helpers
    p = run([reader, "leaks", out])
    assert p.returncode == 0, p.stderr
    assert "/bin/true" not in p.stdout, "helpers stay out of the root's report"
