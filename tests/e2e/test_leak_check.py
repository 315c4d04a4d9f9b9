"""The leak check: `memtap run --check` and `memtap check` on clean and leaking programs
(C, C++, process trees, Python), with the exact figures of tests/e2e/progs/leaky.c, the
options (--check=, --check-exit-code, --max-leak-bytes, --suppressions,
--no-default-suppressions, --check-json, --junit), a capture without classes, and
valgrind's figures for the same program."""
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from memtap_e2e import PY_SRC, PROGS_SRC, line_of, py_line_of
from test_python import extension  # noqa: F401 (the fixture: ext.c built for `python`)

# tests/e2e/progs/leaky.c, class by class: (bytes, blocks)
LEAKY = {
    "definitely_lost": (340, 5),    # 3 x 100 (lose_blocks), list head 24, owner 16
    "indirectly_lost": (496, 5),    # 4 list nodes x 24, the owner's array 400
    "possibly_lost": (64, 1),       # keep_middle: a pointer into its middle
    "still_reachable": (100, 2),    # keep_global: 2 x 50
}


def amounts(d):
    return {k: (d[k]["bytes"], d[k]["blocks"]) for k in LEAKY}


@pytest.fixture
def check_run(memtap_run, tmp_path):
    """check_run(NAME, ARGS, *OPTIONS, **kw) -> (capture, CompletedProcess, verdict): memtap
    run --check... --check-json; the verdict is the JSON file's content."""
    def go(name, args, *options, **kw):
        js = str(tmp_path / (name + ".json"))
        out, p = memtap_run(name, args, *options, "--check-json", js, **kw)
        verdict = json.load(open(js)) if os.path.exists(js) else None
        return out, p, verdict
    return go


def test_clean_c_program_passes_with_its_own_status(check_run, prog):
    _, p, v = check_run("clean", [prog("clean_libc")], "--check")
    assert p.returncode == 0, p.stderr
    assert v["passed"] is True
    assert v["definitely_lost"] == {"bytes": 0, "blocks": 0}
    assert v["indirectly_lost"] == {"bytes": 0, "blocks": 0}
    # its own cache: 5 entries of 32 bytes, reachable from a global
    assert v["still_reachable"] == {"bytes": 160, "blocks": 5}
    assert v["suppressed"]["blocks"] > 0  # libc's stdio, locale, nss, TLS
    assert v["leaks"] == []
    # and with --check=possible; --check=reachable fails on the cache only
    _, p, v = check_run("clean-possible", [prog("clean_libc")], "--check=possible")
    assert p.returncode == 0 and v["passed"] is True, p.stderr
    _, p, v = check_run("clean-reach", [prog("clean_libc")], "--check=reachable")
    assert p.returncode == 23
    assert [(l["function"], l["bytes"], l["blocks"]) for l in v["leaks"]] == \
        [("fill_cache", 160, 5)]


def test_clean_cxx_program_passes(check_run, prog):
    _, p, v = check_run("cxx", [prog("clean_cxx")], "--check")
    assert p.returncode == 0, p.stderr
    assert v["passed"] is True and v["leaks"] == []
    assert amounts(v)["definitely_lost"] == (0, 0)
    assert amounts(v)["possibly_lost"] == (0, 0)


@pytest.mark.parametrize("args,status", [([], 3), (["0"], 0), (["5"], 5)])
def test_clean_program_keeps_its_exit_status(check_run, prog, args, status):
    _, p, v = check_run("exit", [prog("exit3"), *args], "--check")
    assert p.returncode == status, p.stderr
    assert v["passed"] is True


def test_leaky_exact_figures_and_exit_codes(check_run, prog):
    _, p, v = check_run("leaky", [prog("leaky")], "--check")
    assert p.returncode == 23
    assert "memtap check: FAILED: 836 B in 10 blocks definitely or indirectly lost" in p.stderr
    assert amounts(v) == LEAKY
    assert v["passed"] is False
    assert v["judged"] == {"bytes": 836, "blocks": 10}
    src = os.path.join(PROGS_SRC, "leaky.c")
    sites = {(l["function"], l["line"]): (l["bytes"], l["blocks"], l["classes"])
             for l in v["leaks"]}
    assert sites == {
        ("lose_blocks", line_of(src, "LEAK:blocks")): (300, 3, ["definite"]),
        ("push", line_of(src, "LEAK:list")): (120, 5, ["definite", "indirect"]),
        ("lose_owner", line_of(src, "LEAK:owner")): (16, 1, ["definite"]),
        ("lose_owner", line_of(src, "LEAK:items")): (400, 1, ["indirect"]),
    }
    # the program's own failing status does not hide the leaks; a chosen code replaces 23
    _, p, _ = check_run("leaky7", [prog("leaky")], "--check", "--check-exit-code", "7")
    assert p.returncode == 7
    _, p, _ = check_run("leaky-st", [prog("leaky"), "4"], "--check")
    assert p.returncode == 23


def test_check_classes_widen(check_run, prog):
    _, p, v = check_run("possible", [prog("leaky")], "--check=possible")
    assert p.returncode == 23 and v["judged"] == {"bytes": 900, "blocks": 11}
    assert "keep_middle" in [l["function"] for l in v["leaks"]]
    _, p, v = check_run("reachable", [prog("leaky")], "--check=reachable")
    assert p.returncode == 23 and v["judged"] == {"bytes": 1000, "blocks": 13}
    assert len(v["leaks"]) == 6
    assert [l for l in v["leaks"] if l["function"] == "keep_global"][0]["classes"] == \
        ["reachable"]


def test_max_leak_bytes(check_run, prog):
    _, p, v = check_run("max-above", [prog("leaky")], "--max-leak-bytes", "836")
    assert p.returncode == 0 and v["passed"] is True, p.stderr
    _, p, v = check_run("max-below", [prog("leaky")], "--max-leak-bytes", "835")
    assert p.returncode == 23 and v["passed"] is False


def test_suppressions_file(check_run, prog, tmp_path):
    supp = tmp_path / "leaky.supp"
    supp.write_text("# the list and the owner are known\n\n  leak:push  \nleak:lose_owner\n")
    _, p, v = check_run("supp", [prog("leaky")], "--suppressions", str(supp))
    assert p.returncode == 23
    assert v["suppressed"] == {"bytes": 536, "blocks": 7}  # 120 in 5, 16 + 400 in 2
    assert amounts(v)["definitely_lost"] == (300, 3)
    assert amounts(v)["indirectly_lost"] == (0, 0)
    assert [l["function"] for l in v["leaks"]] == ["lose_blocks"]
    supp.write_text("leak:leaky.c\n")  # a source file's base name
    _, p, v = check_run("supp-all", [prog("leaky")], "--suppressions", str(supp))
    assert p.returncode == 0 and v["suppressed"] == {"bytes": 1000, "blocks": 13}



def test_bad_suppressions_file(memtap_run, reader, run, prog, tmp_path):
    out, _ = memtap_run("supp-bad", [prog("leaky")])
    supp = tmp_path / "bad.supp"
    supp.write_text("# fine\npush\n")
    q = run([reader, "check", "--suppressions", str(supp), out])
    assert q.returncode == 2
    assert f"{supp}:2: not a suppression: 'push'" in q.stderr


def test_no_default_suppressions_shows_libc(check_run, prog):
    _, _, v = check_run("defaults", [prog("clean_libc")], "--check=reachable")
    _, p, nd = check_run("nodefaults", [prog("clean_libc")], "--check=reachable",
                         "--no-default-suppressions")
    assert nd["suppressed"] == {"bytes": 0, "blocks": 0}
    shown = nd["still_reachable"]["blocks"] + nd["possibly_lost"]["blocks"]
    assert shown == v["still_reachable"]["blocks"] + v["suppressed"]["blocks"] + \
        v["possibly_lost"]["blocks"]
    modules = {f["module"].rsplit("/", 1)[-1] for l in nd["leaks"] for f in l["stack"][:1]
               if f["module"]}
    assert any(m.startswith("libc.so") for m in modules), modules


def test_json_schema(check_run, prog):
    _, _, v = check_run("schema", [prog("leaky")], "--check")
    for key in ("passed", "definitely_lost", "indirectly_lost", "possibly_lost",
                "still_reachable", "suppressed", "processes", "leaks"):
        assert key in v
    for key in LEAKY:
        assert set(v[key]) == {"bytes", "blocks"}
    assert isinstance(v["passed"], bool)
    (proc,) = v["processes"]
    assert proc["leaked"] is True and proc["judged"] is True and proc["leak_classes"] is True
    assert amounts(proc) == LEAKY
    leak = v["leaks"][0]
    assert {"pid", "command", "bytes", "blocks", "classes", "function", "file", "line",
            "stack"} <= set(leak)
    assert leak["pid"] == proc["pid"]
    assert leak["stack"][0]["function"] == leak["function"]


def test_junit_one_failing_case_per_site(memtap_run, prog, tmp_path):
    junit = tmp_path / "leaks.xml"
    _, p = memtap_run("junit", [prog("leaky")], "--check", "--junit", str(junit))
    assert p.returncode == 23
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("failures") == "4"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 4
    src = os.path.join(PROGS_SRC, "leaky.c")
    by_name = {c.get("name"): c.find("failure") for c in cases}
    pid = re.search(r"\[pid (\d+)\]", cases[0].get("name")).group(1)
    blocks = by_name[f"lose_blocks (leaky.c:{line_of(src, 'LEAK:blocks')}) [pid {pid}]"]
    assert blocks is not None
    assert blocks.get("message").startswith("definitely lost 300 bytes in 3 blocks")
    assert "lose_blocks  " in blocks.text and "leak_all  " in blocks.text and \
        "main  " in blocks.text
    # a clean run: one passing test case
    junit2 = tmp_path / "clean.xml"
    _, p = memtap_run("junit-clean", [prog("exit3"), "0"], "--check", "--junit", str(junit2))
    assert p.returncode == 0
    root = ET.parse(junit2).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 1 and cases[0].find("failure") is None


def test_process_tree_names_the_leaking_process(check_run, prog):
    script = f"{prog('clean_libc')} >/dev/null; {prog('leaky')}; exit 0"
    _, p, v = check_run("tree", ["/bin/sh", "-c", script], "--check")
    assert p.returncode == 23
    assert amounts(v)["definitely_lost"] == LEAKY["definitely_lost"]
    assert amounts(v)["indirectly_lost"] == LEAKY["indirectly_lost"]
    leaked = [pr for pr in v["processes"] if pr["leaked"]]
    assert [pr["command"].split()[0] for pr in leaked] == [prog("leaky")]
    assert len(v["processes"]) == 3
    assert {l["pid"] for l in v["leaks"]} == {leaked[0]["pid"]}
    assert f"process {leaked[0]['pid']}: {prog('leaky')}" in p.stderr


def test_check_command_gives_the_same_verdict(check_run, reader, run, prog, tmp_path):
    out, p, v = check_run("same", [prog("leaky")], "--check")
    js = tmp_path / "again.json"
    q = run([reader, "check", "--check-json", str(js), out])
    assert q.returncode == 23
    again = json.load(open(js))
    assert again == v
    q = run([reader, "check", "--max-leak-bytes", "1000", out])
    assert q.returncode == 0
    q = run([reader, "check", "--json", out])
    assert q.returncode == 23 and json.loads(q.stdout)["passed"] is False


def test_capture_without_scan(check_run, memtap_run, reader, run, prog):
    # MEMTAP_LEAK_SCAN=0: no classes; every block never freed counts as definitely lost
    env = dict(os.environ, MEMTAP_LEAK_SCAN="0")
    out, p, v = check_run("noscan", [prog("leaky")], "--check", env=env)
    assert p.returncode == 23
    assert "no leak classes (no scan at exit): every block never freed counts as " \
        "definitely lost" in p.stderr
    assert amounts(v)["definitely_lost"] == (1000, 13)
    assert v["processes"][0]["leak_classes"] is False
    _, p, v = check_run("noscan-clean", [prog("exit3"), "0"], "--check", env=env)
    assert p.returncode == 0 and v["passed"] is True


def test_killed_program_is_not_judged(memtap, reader, run, spawn, prog, tmp_path):
    out = str(tmp_path / "killed.memtap")
    proc = spawn([memtap, "run", "--check", "-o", out, "--", prog("sleeper")])
    assert proc.stdout.readline() == "ready\n"
    child = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    for pid in child.stdout.split():
        os.kill(int(pid), 9)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 137  # the program's own status
    assert "not judged" in err and "no process could be judged" in err
    q = run([reader, "check", out])
    assert q.returncode == 1
    assert "killed by signal 9: not judged" in q.stdout


def valgrind_summary(text):
    out = {}
    for key, label in (("definitely_lost", "definitely lost"),
                       ("indirectly_lost", "indirectly lost"),
                       ("possibly_lost", "possibly lost"),
                       ("still_reachable", "still reachable")):
        m = re.search(label + r": ([\d,]+) bytes in ([\d,]+) blocks", text)
        out[key] = (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", "")))
    return out


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_agrees_with_valgrind(check_run, run, prog):
    p = run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", prog("leaky")])
    assert p.returncode == 0, p.stderr[-2000:]
    vg = valgrind_summary(p.stderr)
    assert vg == LEAKY
    _, _, v = check_run("vs-valgrind", [prog("leaky")], "--check=reachable")
    assert amounts(v) == vg


# Programs of the distribution, as they are: valgrind runs __libc_freeres() at exit, so its
# "still reachable" is smaller than memtap's (libc's one-time blocks count there), and a
# possibly lost block depends on stale stack values; the lost classes must be equal.
DISTRIBUTION = {
    "sort": lambda d: ["sort", "-n", d["nums"]],        # coreutils: 24 B in 1 block lost
    "perl": lambda d: ["perl", "-e", "print(1)"],        # 8,325 B in 30, indirectly 44,060 in 15
    "gawk": lambda d: ["gawk", "-f", d["awk"], d["nums"]],
    "mawk": lambda d: ["mawk", "-f", d["awk"], d["nums"]],
    "sed": lambda d: ["sed", "-n", "5p", d["nums"]],
}


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
@pytest.mark.parametrize("name", sorted(DISTRIBUTION))
def test_agrees_with_valgrind_on_distribution_programs(name, memtap_run, report, run, tmp_path):
    if not shutil.which(name):
        pytest.skip(f"{name} is not installed")
    files = {"nums": str(tmp_path / "nums.txt"), "awk": str(tmp_path / "sum.awk")}
    with open(files["nums"], "w") as f:
        f.write("".join(f"{i}\n" for i in range(2000, 0, -1)))
    with open(files["awk"], "w") as f:
        f.write("{ s += $1 } END { print s }\n")
    args = DISTRIBUTION[name](files)
    p = run(["valgrind", "--leak-check=full", *args])
    assert p.returncode == 0, p.stderr[-2000:]
    vg = {}
    for key, label in (("definitely_lost", "definitely lost"),
                       ("indirectly_lost", "indirectly lost")):
        m = re.search(label + r": ([\d,]+) bytes in ([\d,]+) blocks", p.stderr)
        assert m or "no leaks are possible" in p.stderr, p.stderr[-2000:]
        vg[key] = (int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))) \
            if m else (0, 0)
    out, q = memtap_run("dist-" + name, args, "--leak-scan")
    assert q.returncode == 0, q.stderr[-2000:]
    summary = report("summary", out)
    assert summary["leak_scan"] == "done"  # the zeros below are the scan's, not its absence
    classes = summary["leak_classes"]
    assert {k: (classes[k]["bytes"], classes[k]["blocks"]) for k in vg} == vg
    if name in ("sort", "perl"):  # the two with real leaks here
        assert vg["definitely_lost"][1] > 0


# Python: clean scripts pass on every interpreter, with and without pymalloc; real leaks
# (ctypes, a C extension's malloc) fail; a global list fails --check=reachable.

def py_env(pymalloc, base=None):
    env = dict(base or os.environ)
    env["PYTHONMALLOC"] = "pymalloc" if pymalloc else "malloc"
    return env


@pytest.mark.parametrize("pymalloc", [True, False], ids=["pymalloc", "malloc"])
def test_python_clean_script_passes(check_run, python, pymalloc):
    script = os.path.join(PY_SRC, "leak_clean.py")
    _, p, v = check_run("py-clean", [python, script], "--check=possible",
                        env=py_env(pymalloc))
    assert p.returncode == 0, p.stderr[-3000:]
    assert v["passed"] is True and v["leaks"] == []
    assert v["suppressed"]["blocks"] > 100  # the interpreter's own


@pytest.mark.parametrize("pymalloc", [True, False], ids=["pymalloc", "malloc"])
def test_python_real_leaks_fail(check_run, python, extension, pymalloc):
    _, p, v = check_run("py-ctypes", [python, os.path.join(PY_SRC, "ctypes_lose.py")],
                        "--check", env=py_env(pymalloc))
    assert p.returncode == 23, p.stderr[-3000:]
    (leak,) = v["leaks"]
    assert (leak["bytes"], leak["blocks"]) == (54321, 1)
    line = py_line_of("ctypes_lose.py", "CTYPES-LOSE")
    assert any(f["function"] == "lose" and f["line"] == line for f in leak["stack"])
    _, p, v = check_run("py-ext", [python, os.path.join(PY_SRC, "ext_lose.py")], "--check",
                        env=py_env(pymalloc, extension))
    assert p.returncode == 23, p.stderr[-3000:]
    (leak,) = v["leaks"]
    assert (leak["function"], leak["line"]) == ("ext_lose", py_line_of("ext.c", "EXT-LOSE"))
    assert (leak["bytes"], leak["blocks"]) == (4321, 1)


def test_python_global_list_fails_reachable_only(check_run, python):
    script = os.path.join(PY_SRC, "keep_global.py")
    env = py_env(False)  # every object a block of its own (docs/python.md)
    _, p, v = check_run("py-keep", [python, script], "--check", env=env)
    assert p.returncode == 0 and v["passed"] is True, p.stderr[-3000:]
    _, p, v = check_run("py-keep-r", [python, script], "--check=reachable", env=env)
    assert p.returncode == 23
    line = py_line_of("keep_global.py", "KEEP")
    kept = [l for l in v["leaks"]
            if any(f["function"] == "keep" and f["line"] == line for f in l["stack"])]
    # the 100 buffers of 10,001 bytes (bytearray's trailing NUL)
    assert (10001 * 100, 100) in [(l["bytes"], l["blocks"]) for l in kept]


def test_python_pytest_run_passes(check_run, tmp_path):
    python = "/usr/bin/python3.11"
    if not os.access(python, os.X_OK) or \
            subprocess.run([python, "-c", "import pytest"]).returncode != 0:
        pytest.skip("no pytest for /usr/bin/python3.11")
    (tmp_path / "test_small.py").write_text(
        "import json\n\ndef test_one():\n    assert json.loads('[1]') == [1]\n")
    _, p, v = check_run("py-pytest", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                      str(tmp_path / "test_small.py")], "--check",
                        cwd=str(tmp_path))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    assert v["passed"] is True


def test_python_via_shim_on_path(check_run, reader, run):
    """python3 as users type it: pyenv's shim is a bash script that runs pyenv's (about 40
    bash processes), which never free some of their memory: the built-in shell rule puts
    it under suppressed, so the whole run passes with the program's own status, and the
    interpreter's process has nothing suppressed by that rule (docs/ci.md)."""
    shim = shutil.which("python3")
    if not shim:
        pytest.skip("no python3 on PATH")
    out, p, v = check_run("py-shim", ["python3", os.path.join(PY_SRC, "leak_clean.py")],
                          "--check")
    assert "clean done" in p.stdout
    assert p.returncode == 0, p.stderr[-3000:]
    assert v["passed"] is True and v["leaks"] == []
    pythons = [pr for pr in v["processes"] if "leak_clean.py" in pr["command"]
               and "python" in pr["command"].split()[0]]
    assert len(pythons) == 1, [pr["command"] for pr in v["processes"]]
    assert pythons[0]["leaked"] is False
    with open(shim, "rb") as f:
        if f.read(2) != b"#!":  # a real interpreter on PATH, not pyenv's shim
            return
    shells = [pr for pr in v["processes"] if pr["command"].startswith("bash ")]
    assert shells and all(pr["judged"] for pr in shells)
    assert sum(pr["suppressed"]["blocks"] for pr in shells) > 0
    q = run([reader, "check", "--no-default-suppressions", out])
    assert q.returncode == 23 and "bash" in q.stdout
    out, p, v = check_run("py-shim-leak", ["python3", os.path.join(PY_SRC, "ctypes_lose.py")],
                          "--check")
    assert p.returncode == 23
    (pid,) = [pr["pid"] for pr in v["processes"] if "ctypes_lose.py" in pr["command"]
              and "python" in pr["command"].split()[0]]
    assert [(l["bytes"], l["blocks"]) for l in v["leaks"] if l["pid"] == pid] == [(54321, 1)]


def test_leaks_and_summary_show_classes(memtap_run, report, reader, run, prog):
    out, _ = memtap_run("classes", [prog("leaky")], "--leak-scan")
    text = run([reader, "leaks", out]).stdout
    assert "#1  400 B in 1 block (40.0%): indirectly lost\n" in text
    assert "120 B in 5 blocks (12.0%): definitely lost 24 B in 1 block, indirectly lost " \
        "96 B in 4 blocks\n" in text
    assert "64 B in 1 block (6.4%): possibly lost\n" in text
    assert "100 B in 2 blocks (10.0%): still reachable\n" in text
    filtered = run([reader, "leaks", "--class", "indirect,possible", out]).stdout
    assert filtered.startswith("Leaked 560 B in 6 blocks from 3 stacks")
    assert [l for l in filtered.splitlines() if l.startswith("#")] == [
        "#1  400 B in 1 block (71.4%): indirectly lost",
        "#2  96 B in 4 blocks (17.1%): indirectly lost",
        "#3  64 B in 1 block (11.4%): possibly lost"]
    js = report("leaks", out, "--class", "definite")
    assert (js["leaked_bytes"], js["leaked_blocks"]) == (340, 5)
    assert js["leak_scan"] == "done"
    assert [(l["bytes"], l["blocks"]) for l in js["leaks"]] == [(300, 3), (24, 1), (16, 1)]
    assert js["leaks"][1]["classes"] == {"definitely_lost": {"bytes": 24, "blocks": 1},
                                         "indirectly_lost": {"bytes": 96, "blocks": 4}}
    assert {k: (v["bytes"], v["blocks"]) for k, v in js["leak_classes"].items()} == LEAKY
    bad = run([reader, "leaks", "--class", "lost", out])
    assert bad.returncode == 2 and "--class takes" in bad.stderr
    summary = run([reader, "summary", out]).stdout
    assert "Leak classes     definitely lost 340 B in 5, indirectly lost 496 B in 5, possibly " \
        "lost 64 B in 1, still reachable 100 B in 2 (scan at exit: " in summary
    js = report("summary", out)
    assert js["leak_scan"] == "done" and isinstance(js["leak_scan_ms"], int)
    assert {k: (v["bytes"], v["blocks"]) for k, v in js["leak_classes"].items()} == LEAKY


def test_a_crash_reading_back_loses_nothing(memtap_run, report, prog):
    """The collector replays the capture in a child process for the leak scan: a crash there
    (forced here) costs the classes of that process only, with one line; the capture is
    whole and the program's status is kept."""
    env = dict(os.environ, MEMTAP_TEST_SCAN_CRASH="1")
    out, p = memtap_run("scan-crash", [prog("exit3")], "--leak-scan", env=env)
    assert p.returncode == 3, p.stderr
    assert "no leak classes: reading its records back failed (signal 11)" in p.stderr
    s = report("summary", out)
    assert s["complete"] is True and s["leak_scan"] == "none"


def test_plain_run_has_no_scan(memtap_run, report, prog):
    """The scan replays every record at exit: a plain `memtap run` does not pay for it,
    --leak-scan (or --check) does; MEMTAP_LEAK_SCAN in the environment wins."""
    out, _ = memtap_run("plain", [prog("leaky")])
    assert report("summary", out)["leak_scan"] == "none"
    out, _ = memtap_run("asked", [prog("leaky")], "--leak-scan")
    assert report("summary", out)["leak_scan"] == "done"
    out, _ = memtap_run("by-env", [prog("leaky")], env=dict(os.environ, MEMTAP_LEAK_SCAN="1"))
    assert report("summary", out)["leak_scan"] == "done"
