"""End-to-end tests of Python support, run on each interpreter the issue names: Debian's
/usr/bin/python3.11 (libpython inside the executable) and pyenv's shared-library 3.12.1 and
3.13.0. A missing interpreter is skipped with a printed line, never silently.

Loaded by run.py, which passes its helpers in `h`."""
import os
import shutil
import subprocess

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs", "python")


def pyenv_root():
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return os.path.expanduser("~/.pyenv")


def interpreters():
    root = pyenv_root() or os.path.expanduser("~/.pyenv")
    return [
        ("3.11", "/usr/bin/python3.11"),
        ("3.12", os.path.join(root, "versions", "3.12.1", "bin", "python3.12")),
        ("3.13", os.path.join(root, "versions", "3.13.0", "bin", "python3.13")),
    ]


def line_of(name, tag):
    with open(os.path.join(HERE, name)) as f:
        for n, text in enumerate(f, 1):
            if "# " + tag in text or "/* " + tag in text or text.startswith(tag):
                return n
    raise AssertionError(f"{tag} not in {name}")


def py_eval(python, expr):
    return subprocess.run([python, "-c", f"print({expr})"], capture_output=True, text=True,
                          check=True).stdout.strip()


def innermost_python(frames):
    return next((i for i, f in enumerate(frames) if f.get("python")), None)


def sites_at(sites, name, line, function=None):
    """Sites whose innermost Python frame is name:line (in function)."""
    out = []
    for s in sites:
        i = innermost_python(s["stack"])
        if i is None:
            continue
        f = s["stack"][i]
        if f["file"] and f["file"].endswith("/" + name) and f["line"] == line and \
                (function is None or f["function"] == function):
            out.append(s)
    return out


def tests(h):
    """Returns (name, function) pairs; each function runs on every interpreter found."""
    def each_python(check):
        def run_all():
            ran = 0
            for version, python in interpreters():
                if not os.access(python, os.X_OK):
                    print(f"SKIP python {version}: no interpreter at {python}")
                    continue
                try:
                    check(version, python)
                except AssertionError as e:
                    raise AssertionError(f"python {version}: {e}") from None
                ran += 1
            assert ran > 0, "no Python interpreter found at all"
        return run_all

    def held_bytearrays(version, python):
        out, p = h.memtap_run(f"py-hold-{version}", [python, os.path.join(HERE, "hold.py")])
        assert p.returncode == 0 and p.stdout == "hold done 50\n", (p.returncode, p.stdout, p.stderr)
        obj = int(py_eval(python, "__import__('sys').getsizeof(bytearray())"))
        count, size = 50, 123_457
        line = line_of("hold.py", "HOLD")
        held = h.report("leaks", out, "--before-teardown", "--python-only")
        found = sites_at(held["held"], "hold.py", line, "fill")
        assert len(found) == 1, f"{len(found)} sites at hold.py:{line}"
        site = found[0]
        # each bytearray: its object and its buffer (size + 1 for the trailing NUL)
        assert site["blocks"] == 2 * count, site["blocks"]
        assert site["bytes"] == count * (size + 1 + obj), (site["bytes"], count * (size + 1 + obj))
        assert [f["function"] for f in site["stack"]] == ["fill", "<module>"], site["stack"]
        assert site["stack"][1]["line"] == line_of("hold.py", "fill(held)"), site["stack"][1]
        assert set(site["allocators"]) <= {"pymem", "pyobject"}, site["allocators"]
        # counted once: no malloc or mmap site has the same Python line
        top = h.report("top", out, "--by", "total", "--limit", "0")
        for s in sites_at(top["sites"], "hold.py", line):
            assert set(s["allocators"]) <= {"pymem", "pyobject"}, s["allocators"]
        # the temporaries are all freed at once, and at their own line
        tmp = sites_at(top["sites"], "hold.py", line_of("hold.py", "TEMP"), "churn")
        assert sum(s["count"] for s in tmp) == 2 * count, [s["count"] for s in tmp]
        assert sum(s["total_bytes"] for s in tmp) == count * (size // 2 + 1 + obj)
        assert sum(s["leaked_bytes"] for s in tmp) == 0
        # the teardown frees them: not leaks, but held when the main module finished
        s = h.report("summary", out)
        assert s["main_done"] is True
        assert s["held_at_main_end_bytes"] >= count * (size + 1 + obj)
        leaks = h.report("leaks", out)
        assert not sites_at(leaks["leaks"], "hold.py", line), "held bytearrays reported as leaked"
        assert s["python_functions"] > 0

    def ctypes_leak(version, python):
        out, p = h.memtap_run(f"py-ctypes-{version}", [python, os.path.join(HERE, "ctypes_leak.py")])
        assert p.returncode == 0, p.stderr
        leaks = h.report("leaks", out)
        found = [s for s in leaks["leaks"] if s["bytes"] == 54321]
        assert len(found) == 1, [s["bytes"] for s in leaks["leaks"]][:10]
        site = found[0]
        assert site["blocks"] == 1 and site["allocators"] == ["malloc"], site
        i = innermost_python(site["stack"])
        assert i is not None and i > 0, "no Python frame below the native ones"
        f = site["stack"][i]
        assert (f["function"], f["line"]) == ("leak_from_ctypes", line_of("ctypes_leak.py", "CTYPES")), f
        assert site["stack"][i + 1]["function"] == "<module>", site["stack"][i + 1]
        text = h.run([h.READER, "leaks", out]).stdout
        assert f"ctypes_leak.py:{line_of('ctypes_leak.py', 'CTYPES')} [py]" in text, text[:2000]

    def thread_alloc(version, python):
        out, p = h.memtap_run(f"py-thread-{version}", [python, os.path.join(HERE, "thread_alloc.py")])
        assert p.returncode == 0, p.stderr
        obj = int(py_eval(python, "__import__('sys').getsizeof(bytearray())"))
        held = h.report("leaks", out, "--before-teardown", "--python-only")
        found = sites_at(held["held"], "thread_alloc.py", line_of("thread_alloc.py", "THREAD"), "worker")
        assert len(found) == 1, len(found)
        assert found[0]["bytes"] == 7 * (77_777 + 1 + obj), found[0]["bytes"]
        assert h.report("summary", out)["threads"] >= 2

    def c_extension(version, python):
        include = py_eval(python, "__import__('sysconfig').get_paths()['include']")
        suffix = py_eval(python, "__import__('sysconfig').get_config_var('EXT_SUFFIX')")
        if not os.path.exists(os.path.join(include, "Python.h")):
            print(f"SKIP python {version} C extension: no headers in {include} "
                  "(Debian: apt-get install python3-dev)")
            return
        ext_dir = os.path.join(h.TMP, f"ext-{version}")
        os.makedirs(ext_dir, exist_ok=True)
        build = h.run(["cc", "-O0", "-g", "-fno-optimize-sibling-calls", "-shared", "-fPIC",
                       f"-I{include}", os.path.join(HERE, "ext.c"), "-o",
                       os.path.join(ext_dir, "memtap_ext" + suffix)])
        assert build.returncode == 0, build.stderr
        env = dict(os.environ, PYTHONPATH=ext_dir)
        out, p = h.memtap_run(f"py-ext-{version}", [python, os.path.join(HERE, "ext_use.py")], env=env)
        assert p.returncode == 0, p.stderr
        leaks = h.report("leaks", out)
        by_size = {s["bytes"]: s for s in leaks["leaks"] if s["bytes"] in (7777, 8888)}
        assert set(by_size) == {7777, 8888}, sorted(s["bytes"] for s in leaks["leaks"])[:20]
        malloc_line = line_of("ext.c", "EXT-MALLOC")
        call_line = line_of("ext.c", "EXT-CALL")

        def where(frames):
            return [(f["function"], f["line"], bool(f.get("python"))) for f in frames]

        direct = where(by_size[7777]["stack"])
        assert direct[0] == ("ext_leak", malloc_line, False), direct[:3]
        py = [x for x in direct if x[2]]
        assert py[:2] == [("use_ext", line_of("ext_use.py", "EXT-DIRECT"), True),
                          ("<module>", line_of("ext_use.py", "use_ext()"), True)], py
        # C -> Python -> C: each Python frame sits where its interpreter loop ran
        via = where(by_size[8888]["stack"])
        names = [x[0] for x in via]
        assert via[0] == ("ext_leak", malloc_line, False), via[:3]
        cb = names.index("callback")
        assert via[cb] == ("callback", line_of("ext_use.py", "EXT-CB"), True), via[cb]
        ext_call = names.index("ext_call")
        assert cb < ext_call and via[ext_call][1] == call_line, via
        use = names.index("use_ext")
        assert ext_call < use and via[use] == ("use_ext", line_of("ext_use.py", "EXT-VIA-C"), True), via
        # --python-only at report time: only Python frames, merged per Python stack
        only = h.report("leaks", out, "--python-only")
        s = [x for x in only["leaks"] if x["bytes"] == 8888][0]
        assert [(f["function"], f["line"]) for f in s["stack"]] == [
            ("callback", line_of("ext_use.py", "EXT-CB")),
            ("use_ext", line_of("ext_use.py", "EXT-VIA-C")),
            ("<module>", line_of("ext_use.py", "use_ext()"))], s["stack"]
        # --python-only at capture time: the same Python stacks, no unwinding under Python,
        # and innermost the C function that called the allocator (the hook knows it)
        out2 = h.capture_path(f"py-ext-only-{version}")
        p = h.run([h.MEMTAP, "run", "--python-only", "-o", out2, "--", python,
                   os.path.join(HERE, "ext_use.py")], env=env)
        assert p.returncode == 0, p.stderr
        s = [x for x in h.report("leaks", out2)["leaks"] if x["bytes"] == 7777][0]
        assert where(s["stack"]) == [
            ("ext_leak", malloc_line, False),
            ("use_ext", line_of("ext_use.py", "EXT-DIRECT"), True),
            ("<module>", line_of("ext_use.py", "use_ext()"), True)], s["stack"]
        s = [x for x in h.report("leaks", out2, "--python-only")["leaks"] if x["bytes"] == 7777][0]
        assert [f["function"] for f in s["stack"]] == ["use_ext", "<module>"], s["stack"]

    def allocator_modes(version, python):
        count, size = 50, 123_457
        obj = int(py_eval(python, "__import__('sys').getsizeof(bytearray())"))
        line = line_of("hold.py", "HOLD")
        modes = [("PYTHONMALLOC", "debug"), ("PYTHONMALLOC", "malloc"), ("PYTHONDEVMODE", "1"),
                 ("PYTHONTRACEMALLOC", "1")]
        for var, value in modes:
            env = dict(os.environ, **{var: value})
            out, p = h.memtap_run(f"py-mode-{version}", [python, os.path.join(HERE, "hold.py")], env=env)
            assert p.returncode == 0 and "Fatal" not in p.stderr, (var, value, p.returncode, p.stderr[-500:])
            # tracemalloc's own tables grow at the same line (malloc): count Python's blocks
            held = h.report("leaks", out, "--before-teardown")
            found = [x for x in sites_at(held["held"], "hold.py", line, "fill")
                     if set(x["allocators"]) <= {"pymem", "pyobject"}]
            assert sum(x["bytes"] for x in found) == count * (size + 1 + obj), \
                (var, value, [(x["bytes"], x["allocators"]) for x in found])

    def entry_points(version, python):
        # python -m module, and a script whose shebang runs the interpreter
        env = dict(os.environ, PYTHONPATH=HERE)
        out, p = h.memtap_run(f"py-m-{version}", [python, "-m", "hold"], env=env)
        assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
        held = h.report("leaks", out, "--before-teardown", "--python-only")
        assert len(sites_at(held["held"], "hold.py", line_of("hold.py", "HOLD"), "fill")) == 1
        script = os.path.join(h.TMP, f"shebang-{version}.py")
        with open(os.path.join(HERE, "hold.py")) as src, open(script, "w") as dst:
            dst.write(f"#!{python}\n" + src.read())
        os.chmod(script, 0o755)
        out, p = h.memtap_run(f"py-shebang-{version}", [script])
        assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
        held = h.report("leaks", out, "--before-teardown", "--python-only")
        assert len(sites_at(held["held"], os.path.basename(script), line_of("hold.py", "HOLD") + 1, "fill")) == 1

    def as_users_type_it():
        # `python3` from PATH: here a pyenv shim, a bash script that execs the interpreter
        python = shutil.which("python3")
        assert python, "no python3 on PATH"
        out, p = h.memtap_run("py-path", ["python3", os.path.join(HERE, "hold.py")])
        assert p.returncode == 0 and p.stdout == "hold done 50\n", p.stderr
        held = h.report("leaks", out, "--before-teardown", "--python-only")
        found = sites_at(held["held"], "hold.py", line_of("hold.py", "HOLD"), "fill")
        assert len(found) == 1 and found[0]["blocks"] == 100, (python, [x["blocks"] for x in found])

    return [
        ("test_python_through_python3_on_path", as_users_type_it),
        ("test_python_held_bytearrays_exact", each_python(held_bytearrays)),
        ("test_python_ctypes_leak_shows_python_line", each_python(ctypes_leak)),
        ("test_python_thread_frames", each_python(thread_alloc)),
        ("test_python_c_extension_merged_stacks", each_python(c_extension)),
        ("test_python_allocator_modes", each_python(allocator_modes)),
        ("test_python_module_and_shebang", each_python(entry_points)),
    ]
