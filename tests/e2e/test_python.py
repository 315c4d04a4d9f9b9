"""Python programs under `memtap run`, on each interpreter the `python` fixture gives:
Debian's /usr/bin/python3.11 (libpython inside the executable) and pyenv's shared-library
3.12.1 and 3.13.0 (one not installed is skipped, and says so). Python stacks merged with
native ones, the PyMem allocator domains counted once, every PYTHONMALLOC mode.

The reports read here avoid the native view of every site where the check allows: a
Python capture has some 7,000 sites of ~50 frames each, and symbolizing them all takes the
reader 2 to 5 s and 17 to 68 MB of JSON a report; `--python-only` merges sites with the
same Python stack (their figures summed, their allocators joined), which keeps every
check below exact."""
import os
import shutil
import xml.etree.ElementTree as ET

import pytest

from memtap_e2e import PY_SRC, ROOT, children_of, innermost_python, py_eval, py_line_of, \
    pyenv_root, sites_at

HOLD = os.path.join(PY_SRC, "hold.py")
COUNT, SIZE = 50, 123_457  # hold.py's
PYTHON_DOMAINS = {"pymem", "pyobject"}


def bytearray_size(python):
    """sys.getsizeof(bytearray()): the object's own bytes, beside its buffer."""
    return int(py_eval(python, "__import__('sys').getsizeof(bytearray())"))


def held_at_fill(report, out):
    """The one --python-only site held when the main module ended whose innermost frame
    is hold.py's HOLD line in fill()."""
    held = report("leaks", out, "--before-teardown", "--python-only")["held"]
    found = sites_at(held, "hold.py", py_line_of("hold.py", "HOLD"), "fill")
    assert len(found) == 1, f"{len(found)} sites at hold.py:{py_line_of('hold.py', 'HOLD')}"
    return found[0]


def test_python_interpreter_found(pythons):
    assert pythons, "no Python interpreter found at all"


def test_python_through_python3_on_path(memtap_run, report):
    """`python3` from PATH as users type it: here a pyenv shim, a bash script that execs
    the interpreter."""
    python = shutil.which("python3")
    assert python, "no python3 on PATH"
    out, p = memtap_run("py-path", ["python3", HOLD])
    assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
    site = held_at_fill(report, out)
    assert site["blocks"] == 100, (python, site["blocks"])
    # one capture: the shim's helpers are processes of it, and the root report is the
    # script's (followed through the shim's execs)
    assert not children_of(out), children_of(out)
    s = report("summary", out)
    assert "hold.py" in s["command"], s["command"]
    if os.path.basename(os.path.dirname(python)) == "shims":
        assert len(s["processes"]) > 1, s["processes"]


def test_python_held_bytearrays_exact(python, memtap_run, report):
    out, p = memtap_run("py-hold", [python, HOLD])
    assert p.returncode == 0 and p.stdout == "hold done 50\n", (p.returncode, p.stdout, p.stderr)
    obj = bytearray_size(python)
    line = py_line_of("hold.py", "HOLD")
    site = held_at_fill(report, out)
    # each bytearray: its object and its buffer (size + 1 for the trailing NUL)
    assert site["blocks"] == 2 * COUNT, site["blocks"]
    assert site["bytes"] == COUNT * (SIZE + 1 + obj), (site["bytes"], COUNT * (SIZE + 1 + obj))
    assert [f["function"] for f in site["stack"]] == ["fill", "<module>"], site["stack"]
    assert site["stack"][1]["line"] == py_line_of("hold.py", "fill(held)"), site["stack"][1]
    assert set(site["allocators"]) <= PYTHON_DOMAINS, site["allocators"]
    # counted once: no malloc or mmap site has the same Python line (merged per Python
    # stack, such a site would add its allocator to the merged one's)
    top = report("top", out, "--by", "total", "--limit", "0", "--python-only")
    at_hold = sites_at(top["sites"], "hold.py", line)
    assert at_hold, "no site at the HOLD line in top"
    for s in at_hold:
        assert set(s["allocators"]) <= PYTHON_DOMAINS, s["allocators"]
    # the temporaries are all freed at once, and at their own line
    tmp = sites_at(top["sites"], "hold.py", py_line_of("hold.py", "TEMP"), "churn")
    assert sum(s["count"] for s in tmp) == 2 * COUNT, [s["count"] for s in tmp]
    assert sum(s["total_bytes"] for s in tmp) == COUNT * (SIZE // 2 + 1 + obj)
    assert sum(s["leaked_bytes"] for s in tmp) == 0
    # the teardown frees them: not leaks, but held when the main module finished
    s = report("summary", out)
    assert s["main_done"] is True
    assert s["held_at_main_end_bytes"] >= COUNT * (SIZE + 1 + obj)
    leaks = report("leaks", out)
    assert not sites_at(leaks["leaks"], "hold.py", line), "held bytearrays reported as leaked"
    assert s["python_functions"] > 0


def test_python_ctypes_leak_shows_python_line(python, memtap_run, reader, run, report):
    out, p = memtap_run("py-ctypes", [python, os.path.join(PY_SRC, "ctypes_leak.py")])
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)
    found = [s for s in leaks["leaks"] if s["bytes"] == 54321]
    assert len(found) == 1, [s["bytes"] for s in leaks["leaks"]][:10]
    site = found[0]
    assert site["blocks"] == 1 and site["allocators"] == ["malloc"], site
    i = innermost_python(site["stack"])
    assert i is not None and i > 0, "no Python frame below the native ones"
    f = site["stack"][i]
    assert (f["function"], f["line"]) == \
        ("leak_from_ctypes", py_line_of("ctypes_leak.py", "CTYPES")), f
    assert site["stack"][i + 1]["function"] == "<module>", site["stack"][i + 1]
    text = run([reader, "leaks", out]).stdout
    assert f"ctypes_leak.py:{py_line_of('ctypes_leak.py', 'CTYPES')} [py]" in text, text[:2000]


def test_python_thread_frames(python, memtap_run, report):
    out, p = memtap_run("py-thread", [python, os.path.join(PY_SRC, "thread_alloc.py")])
    assert p.returncode == 0, p.stderr
    obj = bytearray_size(python)
    held = report("leaks", out, "--before-teardown", "--python-only")
    found = sites_at(held["held"], "thread_alloc.py", py_line_of("thread_alloc.py", "THREAD"),
                     "worker")
    assert len(found) == 1, len(found)
    assert found[0]["bytes"] == 7 * (77_777 + 1 + obj), found[0]["bytes"]
    assert report("summary", out)["threads"] >= 2


@pytest.fixture
def extension(python, run, tmp_path):
    """The test extension (progs/python/ext.c) built against python's headers: the
    environment to import it with."""
    include = py_eval(python, "__import__('sysconfig').get_paths()['include']")
    suffix = py_eval(python, "__import__('sysconfig').get_config_var('EXT_SUFFIX')")
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip(f"no Python.h in {include} (Debian: apt-get install python3-dev)")
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    build = run(["cc", "-O0", "-g", "-fno-optimize-sibling-calls", "-shared", "-fPIC",
                 f"-I{include}", os.path.join(PY_SRC, "ext.c"), "-o",
                 str(ext_dir / ("memtap_ext" + suffix))])
    assert build.returncode == 0, build.stderr
    return dict(os.environ, PYTHONPATH=str(ext_dir))


def where(frames):
    return [(f["function"], f["line"], bool(f.get("python"))) for f in frames]


def test_python_c_extension_merged_stacks(python, extension, memtap_run, report):
    out, p = memtap_run("py-ext", [python, os.path.join(PY_SRC, "ext_use.py")], env=extension)
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)
    by_size = {s["bytes"]: s for s in leaks["leaks"] if s["bytes"] in (7777, 8888)}
    assert set(by_size) == {7777, 8888}, sorted(s["bytes"] for s in leaks["leaks"])[:20]
    malloc_line = py_line_of("ext.c", "EXT-MALLOC")
    call_line = py_line_of("ext.c", "EXT-CALL")
    direct = where(by_size[7777]["stack"])
    assert direct[0] == ("ext_leak", malloc_line, False), direct[:3]
    py = [x for x in direct if x[2]]
    assert py[:2] == [("use_ext", py_line_of("ext_use.py", "EXT-DIRECT"), True),
                      ("<module>", py_line_of("ext_use.py", "use_ext()"), True)], py
    # C -> Python -> C: each Python frame sits where its interpreter loop ran
    via = where(by_size[8888]["stack"])
    names = [x[0] for x in via]
    assert via[0] == ("ext_leak", malloc_line, False), via[:3]
    cb = names.index("callback")
    assert via[cb] == ("callback", py_line_of("ext_use.py", "EXT-CB"), True), via[cb]
    ext_call = names.index("ext_call")
    assert cb < ext_call and via[ext_call][1] == call_line, via
    use = names.index("use_ext")
    assert ext_call < use and \
        via[use] == ("use_ext", py_line_of("ext_use.py", "EXT-VIA-C"), True), via
    # --python-only at report time: only Python frames, merged per Python stack
    only = report("leaks", out, "--python-only")
    s = [x for x in only["leaks"] if x["bytes"] == 8888][0]
    assert [(f["function"], f["line"]) for f in s["stack"]] == [
        ("callback", py_line_of("ext_use.py", "EXT-CB")),
        ("use_ext", py_line_of("ext_use.py", "EXT-VIA-C")),
        ("<module>", py_line_of("ext_use.py", "use_ext()"))], s["stack"]


def test_python_only_capture_keeps_the_calling_c_function(python, extension, memtap_run,
                                                           report):
    """--python-only at capture time: the same Python stacks, no unwinding under Python,
    and innermost the C function that called the allocator (the hook knows it)."""
    out, p = memtap_run("py-ext-only", [python, os.path.join(PY_SRC, "ext_use.py")],
                        "--python-only", env=extension)
    assert p.returncode == 0, p.stderr
    s = [x for x in report("leaks", out)["leaks"] if x["bytes"] == 7777][0]
    assert where(s["stack"]) == [
        ("ext_leak", py_line_of("ext.c", "EXT-MALLOC"), False),
        ("use_ext", py_line_of("ext_use.py", "EXT-DIRECT"), True),
        ("<module>", py_line_of("ext_use.py", "use_ext()"), True)], s["stack"]
    s = [x for x in report("leaks", out, "--python-only")["leaks"] if x["bytes"] == 7777][0]
    assert [f["function"] for f in s["stack"]] == ["use_ext", "<module>"], s["stack"]


@pytest.mark.parametrize("var,value", [("PYTHONMALLOC", "debug"), ("PYTHONMALLOC", "malloc"),
                                       ("PYTHONDEVMODE", "1"), ("PYTHONTRACEMALLOC", "1")],
                         ids=lambda x: x)
def test_python_allocator_modes(python, memtap_run, report, var, value):
    """Every allocator mode: the held bytearrays counted once, in Python's domains."""
    obj = bytearray_size(python)
    out, p = memtap_run("py-mode", [python, HOLD], env=dict(os.environ, **{var: value}))
    assert p.returncode == 0 and "Fatal" not in p.stderr, (p.returncode, p.stderr[-500:])
    if var != "PYTHONTRACEMALLOC":
        site = held_at_fill(report, out)  # merged: no malloc may hide in it
        assert set(site["allocators"]) <= PYTHON_DOMAINS, site["allocators"]
        assert site["blocks"] == 2 * COUNT, site["blocks"]
        assert site["bytes"] == COUNT * (SIZE + 1 + obj), site["bytes"]
        return
    # tracemalloc's own tables grow at the same line (malloc): count Python's blocks in
    # the native view, where each allocator's sites stand apart
    held = report("leaks", out, "--before-teardown")
    found = [x for x in sites_at(held["held"], "hold.py", py_line_of("hold.py", "HOLD"), "fill")
             if set(x["allocators"]) <= PYTHON_DOMAINS]
    assert sum(x["bytes"] for x in found) == COUNT * (SIZE + 1 + obj), \
        [(x["bytes"], x["allocators"]) for x in found]


def test_python_module_and_shebang(python, memtap_run, report, tmp_path):
    # python -m module
    out, p = memtap_run("py-m", [python, "-m", "hold"], env=dict(os.environ, PYTHONPATH=PY_SRC))
    assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
    held_at_fill(report, out)
    # a script whose shebang runs the interpreter
    script = tmp_path / "shebang.py"
    with open(HOLD) as src:
        script.write_text(f"#!{python}\n" + src.read())
    script.chmod(0o755)
    out, p = memtap_run("py-shebang", [str(script)])
    assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
    held = report("leaks", out, "--before-teardown", "--python-only")
    assert len(sites_at(held["held"], "shebang.py", py_line_of("hold.py", "HOLD") + 1, "fill")) == 1


# --- Python frames read from the interpreter: no allocation of memtap's making ---------------

CALLS = os.path.join(PY_SRC, "calls.py")


@pytest.mark.parametrize("mode", [[], ["--python-only"]], ids=["merged", "python-only"])
def test_python_calls_allocate_nothing(python, memtap_run, report, mode):
    """200,000 calls of a function that allocates nothing: no allocation at the calling
    line (a profile function made CPython 3.11+ create a frame object for each call, and
    memtap recorded 200,001 of them there), while main's one block is where it should be."""
    out, p = memtap_run("py-calls", [python, CALLS], *mode)
    assert p.returncode == 0 and p.stdout == "calls done\n", p.stderr[-500:]
    top = report("top", out, "--by", "count", "--limit", "0", "--python-only")
    at_call = sites_at(top["sites"], "calls.py", py_line_of("calls.py", "CALL"), "main")
    assert sum(s["count"] for s in at_call) == 0, [(s["count"], s["total_bytes"]) for s in at_call]
    marker = sites_at(top["sites"], "calls.py", py_line_of("calls.py", "MARKER"), "main")
    assert [s["count"] for s in marker] == [2], marker  # the bytearray and its buffer
    assert [f["function"] for f in marker[0]["stack"]] == ["main", "<module>"]
    # start-up and teardown only: some 10,000 allocations, not 200,000 more
    assert report("summary", out)["allocations"] < 50_000


@pytest.mark.parametrize("mode", [[], ["--python-only"]], ids=["merged", "python-only"])
def test_python_stacks_told_apart_by_an_outer_frame(python, memtap_run, report, mode):
    """The same innermost frame (leaf's line, at the same place on the frame stack) under
    callers that differ by line or function, in turns: every block at its own caller (the
    thread's memo of stacks keys on every frame, not the innermost ones)."""
    rounds = 2_000
    script = os.path.join(PY_SRC, "outer_lines.py")
    out, p = memtap_run("py-outer-lines", [python, script, str(rounds)], *mode)
    assert p.returncode == 0 and p.stdout == f"outer lines done {3 * rounds}\n", p.stderr[-500:]
    obj = bytearray_size(python)
    held = report("leaks", out, "--before-teardown", "--python-only")["held"]
    at_leaf = sites_at(held, "outer_lines.py", py_line_of("outer_lines.py", "LEAF"), "leaf")
    by_caller = {}  # (caller's function and line, <module>'s line) -> [blocks, bytes]
    for s in at_leaf:
        key = (s["stack"][1]["function"], s["stack"][1]["line"], s["stack"][2]["line"])
        by_caller.setdefault(key, [0, 0])
        by_caller[key][0] += s["blocks"]
        by_caller[key][1] += s["bytes"]
    first, second = py_line_of("outer_lines.py", "FIRST"), py_line_of("outer_lines.py", "SECOND")
    turn1, turn2 = py_line_of("outer_lines.py", "TURN1"), \
        py_line_of("outer_lines.py", "TURN2")
    n = rounds // 2  # bytearrays at each (caller line, module line) of caller()
    expected = {("caller", first, turn1): [2 * n, n * (obj + 101)],
                ("caller", first, turn2): [2 * n, n * (obj + 101)],
                ("caller", second, turn1): [2 * n, n * (obj + 201)],
                ("caller", second, turn2): [2 * n, n * (obj + 201)],
                ("other", py_line_of("outer_lines.py", "OTHER"),
                 py_line_of("outer_lines.py", "TURN3")): [2 * rounds, rounds * (obj + 301)]}
    assert by_caller == expected, by_caller


def test_python_stacks_told_apart_by_a_native_frame(python, extension, memtap_run, report):
    """The same Python frames under two C callers, in turns: every block at its own C
    caller (the thread's memo of stacks keys on the native frames too, named by their
    version: stack/versions.c)."""
    rounds = 3_000
    out, p = memtap_run("py-native-callers",
                        [python, os.path.join(PY_SRC, "native_callers.py"), str(rounds)],
                        env=extension)
    assert p.returncode == 0 and p.stdout == f"native callers done {rounds}\n", p.stderr[-500:]
    obj = bytearray_size(python)
    held = report("leaks", out, "--before-teardown")["held"]
    by_caller = {}  # the C caller between back() and <module> -> [blocks, bytes]
    for s in sites_at(held, "native_callers.py", py_line_of("native_callers.py", "BACK"),
                      "back"):
        names = [f["function"] for f in s["stack"]]
        c = [x for x in ("ext_call", "ext_call_again") if x in names]
        assert len(c) == 1, names
        line = s["stack"][names.index(c[0])]["line"]
        by_caller.setdefault((c[0], line), [0, 0])
        by_caller[(c[0], line)][0] += s["blocks"]
        by_caller[(c[0], line)][1] += s["bytes"]
    n = rounds // 3
    assert by_caller == {
        ("ext_call", py_line_of("ext.c", "EXT-CALL")): [4 * n, 2 * n * (obj + 124)],
        ("ext_call_again", py_line_of("ext.c", "EXT-CALL-AGAIN")): [2 * n, n * (obj + 124)],
    }, by_caller


@pytest.mark.skipif(not shutil.which("valgrind"), reason="valgrind is not installed")
def test_library_reads_no_uninitialised_memory_under_python(python, build, run, tmp_path):
    """memcheck over a Python program whose thread allocates first without Python frames,
    then with them (the walk under Python leaves outer frames unwritten, the versions
    table must not read them: it did, and only memcheck saw it): no error with a frame in
    libmemtap.so."""
    xml = tmp_path / "memcheck.xml"
    env = dict(os.environ, LD_PRELOAD=os.path.join(build, "libmemtap.so"),
               MEMTAP_OUTPUT=str(tmp_path / "out.memtap"))
    p = run(["valgrind", "--tool=memcheck", "--error-limit=no", "--xml=yes",
             f"--xml-file={xml}", python, os.path.join(PY_SRC, "thread_alloc.py")],
            env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-1000:]
    ours = [e for e in ET.parse(xml).getroot().iter("error")
            if any((o.text or "").endswith("/libmemtap.so") for o in e.iter("obj"))]
    assert not ours, [(e.findtext("kind"), [f.findtext("fn") for f in e.iter("frame")][:6])
                      for e in ours[:5]]


def test_python_code_objects_at_reused_addresses(python, memtap_run, report):
    """Code objects compiled, run and freed in a loop take each other's addresses: each
    block is still at its own function and line."""
    out, p = memtap_run("py-code-reuse", [python, os.path.join(PY_SRC, "code_reuse.py")],
                        "--python-only")
    assert p.returncode == 0 and p.stdout == "code reuse done 64\n", p.stderr[-500:]
    obj = bytearray_size(python)
    held = report("leaks", out, "--before-teardown", "--python-only")["held"]
    generated = [s for s in held if s["stack"] and s["stack"][0]["file"] == "generated.py"
                 and s["stack"][0]["function"] != "<module>"]
    found = {}
    for s in generated:
        f = s["stack"][0]
        i = int(f["function"][1:])
        assert (f["function"], f["line"]) == (f"f{i}", i + 2), f
        assert s["blocks"] == 2 and s["bytes"] == 1000 + i + 1 + obj, (i, s["blocks"], s["bytes"])
        found[i] = s
    assert sorted(found) == list(range(64)), sorted(found)


def test_python_raw_thread_and_names(python, memtap_run, report):
    """A thread of _thread.start_new_thread has its Python frames; names that are not
    ASCII read as written."""
    out, p = memtap_run("py-raw-thread", [python, os.path.join(PY_SRC, "raw_thread.py")],
                        "--python-only")
    assert p.returncode == 0 and p.stdout == "raw thread done\n", p.stderr[-500:]
    obj = bytearray_size(python)
    held = report("leaks", out, "--before-teardown", "--python-only")["held"]
    for tag, function, size, count in [("RAW-THREAD", "worker", 55_555, 5),
                                       ("LATIN", "grüße", 33_333, 1),
                                       ("CJK", "Ünïcode.日本" if python_minor(python) >= 11
                                        else "日本", 44_444, 1)]:
        found = sites_at(held, "raw_thread.py", py_line_of("raw_thread.py", tag), function)
        assert len(found) == 1, (tag, [s["stack"][0] for s in held[:5]])
        assert found[0]["bytes"] == count * (size + 1 + obj), (tag, found[0]["bytes"])


def python_minor(python):
    return int(py_eval(python, "__import__('sys').version_info[1]"))


def layout_probe(python, run, tmp_path):
    """Compiles tests/e2e/progs/python/layout_probe.c against python's headers and runs it:
    it compares memtap's table of offsets (preload/python/pylayout.h) with the headers."""
    include = py_eval(python, "__import__('sysconfig').get_paths()['include']")
    if not os.path.exists(os.path.join(include, "Python.h")):
        pytest.skip(f"no Python.h in {include} (Debian: apt-get install python3-dev)")
    if python_minor(python) >= 11 and not os.path.isdir(os.path.join(include, "internal")):
        pytest.skip(f"no internal headers in {include}")
    exe = str(tmp_path / "layout_probe")
    build = run(["cc", "-std=c11", f"-I{include}", f"-I{os.path.join(ROOT, 'preload')}",
                 os.path.join(PY_SRC, "layout_probe.c"), "-o", exe])
    assert build.returncode == 0, build.stderr
    probe = run([exe])
    assert probe.returncode == 0 and probe.stdout.endswith("values agree\n"), probe.stdout
    return probe.stdout


def test_python_layout_matches_headers(python, run, tmp_path):
    """Every offset memtap reads in this interpreter's frames, code objects and strings is
    the one its headers (internal ones included) give."""
    assert layout_probe(python, run, tmp_path).startswith(f"3.{python_minor(python)}: ")


# 3.9 and 3.10 (pyenv's, when installed): frame objects chained by f_back
OLDER = [(v, os.path.join(pyenv_root(), "versions", p, "bin", "python" + v))
         for v, p in [("3.9", "3.9.18"), ("3.10", "3.10.13")]]


@pytest.fixture(params=OLDER, ids=[v for v, _ in OLDER])
def older_python(request):
    version, path = request.param
    if not os.access(path, os.X_OK):
        pytest.skip(f"Python {version} is not installed: no interpreter at {path}")
    return path


def test_python_older_versions(older_python, memtap_run, report, run, tmp_path):
    """3.9 and 3.10: their layout, the held bytearrays exact, no allocation at a call."""
    layout_probe(older_python, run, tmp_path)
    out, p = memtap_run("py-old-hold", [older_python, HOLD])
    assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr[-500:]
    site = held_at_fill(report, out)
    obj = bytearray_size(older_python)
    assert (site["blocks"], site["bytes"]) == (2 * COUNT, COUNT * (SIZE + 1 + obj))
    assert [(f["function"], f["line"]) for f in site["stack"]] == [
        ("fill", py_line_of("hold.py", "HOLD")), ("<module>", py_line_of("hold.py", "fill(held)"))]
    out, p = memtap_run("py-old-calls", [older_python, CALLS], "--python-only")
    assert p.returncode == 0, p.stderr[-500:]
    top = report("top", out, "--by", "count", "--limit", "0", "--python-only")
    assert not sites_at(top["sites"], "calls.py", py_line_of("calls.py", "CALL"), "main")
