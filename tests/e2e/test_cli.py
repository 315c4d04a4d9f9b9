"""The command line: `memtap run`'s options, output naming and refusals, the program's
status and output passed through, help and version, and an installed memtap."""
import os
import re

from memtap_e2e import ROOT, line_of, site_at


def test_passthrough_status_and_output(prog, memtap_run, run):
    out, p = memtap_run("pass", [prog("passthrough"), "7", "two words"])
    assert p.returncode == 7, p.returncode
    assert p.stdout == "arg 1: 7\narg 2: two words\n", repr(p.stdout)
    assert p.stderr.startswith("to stderr\n"), repr(p.stderr)
    assert "memtap: capture written to " + out in p.stderr
    untracked = run([prog("passthrough"), "7", "two words"])
    assert untracked.stdout == p.stdout


def test_default_capture_name(prog, memtap, run, report, tmp_path):
    """Without -o nor $MEMTAP_OUTPUT: memtap-PROGRAM.PID.memtap in the current directory."""
    env = {k: v for k, v in os.environ.items() if k != "MEMTAP_OUTPUT"}
    p = run([memtap, "run", "--", prog("passthrough"), "2"], cwd=tmp_path, env=env)
    assert p.returncode == 2, p.stderr
    files = os.listdir(tmp_path)
    assert len(files) == 1 and re.fullmatch(r"memtap-passthrough\.\d+\.memtap", files[0]), files
    assert f"memtap: capture written to {files[0]} (" in p.stderr, p.stderr
    assert f"memtap: read it with: memtap summary {files[0]}" in p.stderr, p.stderr
    pid = int(files[0].split(".")[1])
    assert report("summary", str(tmp_path / files[0]))["pid"] == pid


def test_memtap_output_names_the_capture(prog, memtap, run, report, tmp_path):
    out = str(tmp_path / "from-env.memtap")
    p = run([memtap, "run", "--", prog("passthrough")], env=dict(os.environ, MEMTAP_OUTPUT=out))
    assert p.returncode == 0, p.stderr
    assert "memtap: capture written to " + out in p.stderr, p.stderr
    assert report("summary", out)["allocations"] >= 1


def test_missing_program(memtap_run):
    out, p = memtap_run("missing", ["no-such-program-xyz"])
    assert p.returncode == 127, p.returncode
    assert p.stderr.strip() == "memtap: no-such-program-xyz: command not found", p.stderr
    assert not os.path.exists(out)


def test_run_usage_errors(memtap, run):
    p = run([memtap, "run"])
    assert p.returncode == 2 and "memtap run: which program?" in p.stderr, p.stderr
    p = run([memtap, "run", "--bogus", "--", "true"])
    assert p.returncode == 2 and "memtap run: unknown option '--bogus'" in p.stderr, p.stderr
    p = run([memtap, "run", "-o"])
    assert p.returncode == 2 and "memtap run: option '-o' needs a value" in p.stderr, p.stderr


def test_existing_output_refused(prog, memtap, run, report, tmp_path):
    out = str(tmp_path / "exists.memtap")
    with open(out, "w") as f:
        f.write("precious")
    p = run([memtap, "run", "-o", out, "--", prog("passthrough")])
    assert p.returncode == 2 and "already exists" in p.stderr, (p.returncode, p.stderr)
    assert open(out).read() == "precious"
    link = str(tmp_path / "link.memtap")
    os.symlink(out, link)
    p = run([memtap, "run", "--force", "-o", link, "--", prog("passthrough")])
    assert p.returncode == 2 and "symbolic link" in p.stderr, p.stderr
    assert open(out).read() == "precious"
    p = run([memtap, "run", "--force", "-o", out, "--", prog("passthrough")])
    assert p.returncode == 0
    assert report("summary", out)["allocations"] >= 1


def test_max_depth_limits_stacks(prog, memtap_run, memtap, run, report):
    out, p = memtap_run("depth", [prog("known_leaks")], "--max-depth", "2")
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)["leaks"]
    for site in leaks:
        outer = [f for f in site["stack"] if not f.get("inlined")]
        assert len(outer) <= 2, [f["function"] for f in site["stack"]]
    site = site_at(leaks, "known_leaks.c", line_of("known_leaks.c", "LEAK:malloc"), "leak_malloc")
    assert [f["function"] for f in site["stack"]] == ["leak_malloc", "main"]
    p = run([memtap, "run", "--max-depth", "0", "--", "true"])
    assert p.returncode == 2 and "--max-depth takes 1 to 1024" in p.stderr, p.stderr


def test_installed_memtap_finds_its_library(build, prog, run, report, tmp_path):
    prefix = tmp_path / "prefix"
    p = run(["make", "-s", "-C", ROOT, "install", f"PREFIX={prefix}", f"BUILD={build}"])
    assert p.returncode == 0, p.stderr
    out = str(tmp_path / "installed.memtap")
    p = run([str(prefix / "bin" / "memtap"), "run", "-o", out, "--", prog("known_leaks")],
            env={k: v for k, v in os.environ.items() if k != "MEMTAP_LIBRARY"})
    assert p.returncode == 0, p.stderr
    assert report("summary", out)["leaked_blocks"] == 14


def test_help_and_version(memtap, run):
    p = run([memtap, "--version"])
    assert p.returncode == 0 and p.stdout.startswith("memtap ")
    for cmd in ("run", "summary", "leaks", "top"):
        p = run([memtap, cmd, "--help"])
        assert p.returncode == 0 and p.stdout.startswith(f"usage: memtap {cmd}"), cmd
    p = run([memtap, "--help"])
    assert p.returncode == 0 and "leaks" in p.stdout
