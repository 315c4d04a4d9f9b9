"""Native programs with known allocations under `memtap run`: summary, leaks and top
checked to the byte, the stacks to the line, and the fast unwinder against libunwind."""
import os
import re
import shutil
import subprocess

import pytest

from memtap_e2e import PAGE, PY_SRC, line_of, site_at

BIG = 1 << 20


def test_known_leaks_exact(prog, memtap_run, report):
    out, p = memtap_run("known", [prog("known_leaks")])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "known_leaks done\n", repr(p.stdout)
    s = report("summary", out)
    assert s["complete"] is True
    assert s["allocations"] == 1021, s["allocations"]
    assert s["frees"] == 1008, s["frees"]
    assert s["bytes_allocated"] == 300 + 400 + 104030 + 2116 + PAGE + 4 * PAGE + BIG + 32056, \
        s["bytes_allocated"]
    leaked = 300 + 400 + 100000 + 256 + 512 + 48 + 1000 + 300 + PAGE + 2 * PAGE + BIG
    assert s["leaked_bytes"] == leaked, s["leaked_bytes"]
    assert s["leaked_blocks"] == 14, s["leaked_blocks"]
    assert s["peak_bytes"] == leaked + 32, s["peak_bytes"]  # the last malloc(32) of the loop
    assert s["threads"] == 1
    # freed before any other allocation: the 1000-loop, calloc/free, the realloc moves
    # (malloc 10 -> 20 -> 4000 -> 100000, malloc 8 -> 16) and the final free(r)
    assert s["temporary_allocations"] == 1000 + 1 + 3 + 2, s["temporary_allocations"]
    kinds = s["by_allocator"]
    assert kinds["malloc"]["leaked_bytes"] == 300 + BIG and kinds["malloc"]["leaked_blocks"] == 4
    assert kinds["calloc"]["leaked_bytes"] == 400
    assert kinds["realloc"]["allocations"] == 4 and kinds["realloc"]["leaked_bytes"] == 100000
    assert kinds["posix_memalign"]["leaked_bytes"] == 256
    assert kinds["aligned_alloc"]["leaked_bytes"] == 512
    assert kinds["memalign"]["leaked_bytes"] == 48
    assert kinds["valloc"]["leaked_bytes"] == 1000
    assert kinds["pvalloc"]["leaked_bytes"] == PAGE
    assert kinds["reallocarray"]["leaked_bytes"] == 300
    # glibc's own mmap for the 1 MiB block is not seen: only the program's two mappings
    assert kinds["mmap"] == {"allocations": 2, "bytes_allocated": 4 * PAGE, "frees": 1,
                             "leaked_blocks": 1, "leaked_bytes": 2 * PAGE}, kinds["mmap"]

    leaks = report("leaks", out)
    assert leaks["leaked_bytes"] == leaked
    expect = {  # tag -> (function, blocks, bytes)
        "LEAK:malloc": ("leak_malloc", 3, 300),
        "LEAK:calloc": ("leak_calloc", 2, 400),
        "LEAK:realloc": ("leak_realloc_chain", 1, 100000),
        "LEAK:posix_memalign": ("leak_aligned", 1, 256),
        "LEAK:aligned_alloc": ("leak_aligned", 1, 512),
        "LEAK:memalign": ("leak_aligned", 1, 48),
        "LEAK:valloc": ("leak_aligned", 1, 1000),
        "LEAK:reallocarray": ("leak_aligned", 1, 300),
        "LEAK:pvalloc": ("leak_aligned", 1, PAGE),
        "LEAK:mmap": ("leak_mmap", 1, 2 * PAGE),
        "LEAK:big": ("leak_big", 1, BIG),
    }
    assert len(leaks["leaks"]) == len(expect), [x["bytes"] for x in leaks["leaks"]]
    for tag, (fn, blocks, nbytes) in expect.items():
        site = site_at(leaks["leaks"], "known_leaks.c", line_of("known_leaks.c", tag), fn)
        assert site["blocks"] == blocks and site["bytes"] == nbytes, \
            (tag, site["blocks"], site["bytes"])
        assert site["stack"][0]["function"] == fn, (tag, site["stack"][0])
        assert any(f["function"] == "main" for f in site["stack"])
        assert "libmemtap" not in (site["stack"][0]["module"] or "")
    sizes = [x["bytes"] for x in leaks["leaks"]]
    assert sizes == sorted(sizes, reverse=True), "leaks must come largest first"


def test_top_orders(prog, memtap_run, report):
    out, p = memtap_run("top", [prog("known_leaks")])
    assert p.returncode == 0
    by_count = report("top", out, "--by", "count", "--limit", "1")["sites"]
    assert len(by_count) == 1 and by_count[0]["count"] == 1000  # the malloc/free loop
    assert by_count[0]["temporary"] == 1000
    by_temp = report("top", out, "--by", "temporary", "--limit", "0")["sites"]
    assert sum(s["temporary"] for s in by_temp) == 1006
    assert by_count[0]["stack"][0]["function"] == "no_leaks"
    by_total = report("top", out, "--by", "total", "--limit", "3")["sites"]
    assert by_total[0]["total_bytes"] == BIG  # malloc(1 MiB)
    assert by_total[1]["total_bytes"] == 100000  # realloc(p, 100000)
    assert by_total[2]["total_bytes"] == 32000  # the malloc(32)/free loop
    by_peak = report("top", out, "--by", "peak", "--limit", "0")["sites"]
    peak_total = sum(s["peak_bytes"] for s in by_peak)
    assert peak_total == report("summary", out)["peak_bytes"], peak_total
    mm = site_at(by_peak, "known_leaks.c", line_of("known_leaks.c", "LEAK:mmap"))
    assert mm["peak_bytes"] == 2 * PAGE, mm["peak_bytes"]  # the peak comes after the munmap


def test_text_reports_and_no_color(prog, memtap_run, reader, run):
    out, p = memtap_run("text", [prog("known_leaks")])
    assert p.returncode == 0, p.stderr
    p = run([reader, "leaks", out], env=dict(os.environ, NO_COLOR="1"))
    assert p.returncode == 0 and "\033[" not in p.stdout
    leaked = 102816 + 3 * PAGE + BIG
    assert p.stdout.startswith("Leaked %.1f MiB in 14 blocks from 11 stacks" % (leaked / 2**20)), \
        p.stdout[:80]
    assert "leak_realloc_chain" in p.stdout
    assert "known_leaks.c:%d" % line_of("known_leaks.c", "LEAK:realloc") in p.stdout
    p = run([reader, "summary", out])
    assert "Peak heap" in p.stdout and "Leaked" in p.stdout and "realloc" in p.stdout


def test_cxx_new_delete(prog, memtap_run, report):
    out, p = memtap_run("cxx", [prog("cxx")])
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)["leaks"]
    single = site_at(leaks, "cxx.cpp", line_of("cxx.cpp", "LEAK:new"), "make_widgets()")
    assert single["blocks"] == 6 and single["bytes"] == 6 * 40, single
    assert single["stack"][0]["function"].startswith("operator new"), single["stack"][0]
    array = site_at(leaks, "cxx.cpp", line_of("cxx.cpp", "LEAK:new[]"), "make_array()")
    assert array["blocks"] == 1 and array["bytes"] == 400, array
    # libstdc++'s operator new[] tail-calls operator new: its own frame is gone
    assert array["stack"][0]["function"].startswith("operator new"), array["stack"][0]
    top = report("top", out, "--by", "count", "--limit", "0")["sites"]
    assert not [t for t in top
                if any(f["function"] == "balanced()" for f in t["stack"]) and t["leaked_blocks"]]


def test_dlopen_module_symbolized(prog, memtap_run, report):
    out, p = memtap_run("dlopen", [prog("dlopener"), prog("plugin.so")])
    assert p.returncode == 0, p.stderr
    leaks = report("leaks", out)["leaks"]
    site = site_at(leaks, "plugin.c", line_of("plugin.c", "LEAK:plugin"), "plugin_leak")
    assert site["blocks"] == 3 and site["bytes"] == 3 * 4444
    assert site["stack"][0]["module"].endswith("plugin.so")


def test_changed_binary_falls_back_to_offsets(prog, memtap_run, report, tmp_path):
    copy = str(tmp_path / "known_copy")
    shutil.copy(prog("known_leaks"), copy)
    out, p = memtap_run("gone", [copy])
    assert p.returncode == 0
    os.unlink(copy)
    leaks = report("leaks", out)["leaks"]
    assert leaks, "still a report"
    frames = [f["function"] for x in leaks for f in x["stack"]]
    assert any(re.fullmatch(r"known_copy\+0x[0-9a-f]+", f) for f in frames), frames[:5]
    assert not any(f == "leak_malloc" for f in frames)


# --- the fast unwinder: MEMTAP_UNWIND=check runs libunwind beside it for every allocation
# of the program and says on stderr where the two differ

def check_unwinders(memtap_run, report, args):
    out, p = memtap_run("check", args, env=dict(os.environ, MEMTAP_UNWIND="check"))
    assert p.returncode == 0, (args[0], p.stderr[-400:])
    assert "unwinders differ" not in p.stderr, (args[0], p.stderr[:800])
    assert report("summary", out)["allocations"] > 0


@pytest.mark.parametrize("args", [["known_leaks"], ["cxx"], ["shapes"], ["dlopener", "plugin.so"],
                                  ["threads"], ["stress"]], ids=lambda a: a[0])
def test_fast_unwinder_matches_libunwind(prog, memtap_run, report, args):
    check_unwinders(memtap_run, report, [prog(a) for a in args])


def test_fast_unwinder_matches_libunwind_python(python, memtap_run, report):
    check_unwinders(memtap_run, report, [python, os.path.join(PY_SRC, "hold.py")])


def test_fast_unwinder_matches_libunwind_cc1(memtap_run, report, tmp_path):
    """A large C++ program built without frame pointers: gcc's cc1."""
    cc1 = subprocess.run(["gcc", "-print-prog-name=cc1"], capture_output=True, text=True,
                         timeout=60).stdout.strip()
    if not os.access(cc1, os.X_OK):
        pytest.skip(f"gcc's cc1 not found (gcc -print-prog-name=cc1 says {cc1!r})")
    src = tmp_path / "unwind-check.c"
    src.write_text(
        "".join(f"static int f{i}(int x) {{ return x * {i} + (x >> 3); }}\n" for i in range(300))
        + "int main(void) { int t = 0;\n" + "".join(f" t += f{i}(t);\n" for i in range(300))
        + " return t; }\n")
    check_unwinders(memtap_run, report,
                    [cc1, "-quiet", "-O2", str(src), "-o", str(tmp_path / "unwind-check.s")])
