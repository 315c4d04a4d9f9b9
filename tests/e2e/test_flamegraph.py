"""`memtap flamegraph` and `memtap export` on real captures: the page's data against the
summary and against a program whose heap is known at every instant, the output file
rules, the exports (folded and speedscope against golden files), threads, Python frames,
65,536 distinct stacks, and names made of markup through the real command.

MEMTAP_UPDATE_GOLDEN=1 rewrites tests/golden/known_leaks.leaks.{folded,speedscope.json}."""
import json
import os
import re

import pytest

from memtap_e2e import PAGE, ROOT, line_of, py_eval

GOLDEN = os.path.join(ROOT, "tests", "golden")
MARKER = 'id="memtap-data">'


def page_data(path):
    """The data block of a page memtap wrote, parsed (it must hold no markup)."""
    with open(path, encoding="utf-8") as f:
        html = f.read()
    start = html.index(MARKER) + len(MARKER)
    end = html.index("</script>", start)
    block = html[start:end]
    assert not re.search(r"[<>&]", block), "markup characters in the data block"
    return json.loads(block)


def at_moment(d, m):
    """Each site's (bytes, blocks) at moment m, from the sparse temporal entries."""
    t = d["temporal"]
    out = {}
    for s, mo, b, k in zip(t["site"], t["moment"], t["bytes"], t["blocks"]):
        if mo <= m and (s not in out or out[s][0] <= mo):
            out[s] = (mo, b, k)
    return {s: (b, k) for s, (_, b, k) in out.items()}


def check_schema(d):
    """What docs/reports.md's contract says holds in any page data."""
    assert d["schema"] == 1
    for table in ("frames", "nodes", "sites", "temporal"):
        lengths = {len(v) for v in d[table].values()}
        assert len(lengths) == 1, (table, lengths)
    parent, frame = d["nodes"]["parent"], d["nodes"]["frame"]
    assert parent[0] == -1 and frame[0] == -1
    assert all(0 <= parent[i] < i for i in range(1, len(parent))), "parents before children"
    assert all(0 <= f < len(d["frames"]["name"]) for f in frame[1:])
    assert all(0 < n < len(parent) for n in d["sites"]["node"])
    assert all(0 <= t < len(d["threads"]) for t in d["sites"]["thread"])
    assert [t["id"] for t in d["threads"]] == list(range(len(d["threads"])))
    tl, meta = d["timeline"], d["meta"]
    n = len(tl["t_ms"])
    assert all(len(tl[k]) == n for k in ("heap_bytes", "heap_blocks", "rss_bytes"))
    assert all(a <= b for a, b in zip(tl["t_ms"], tl["t_ms"][1:])), "times ascending"
    p = tl["peak_index"]
    assert tl["heap_bytes"][p] == meta["peak_bytes"] == max(tl["heap_bytes"])
    assert tl["heap_blocks"][p] == meta["peak_blocks"]
    assert tl["t_ms"][p] == meta["peak_time_ms"]
    pairs = set(zip(d["temporal"]["site"], d["temporal"]["moment"]))
    assert len(pairs) == len(d["temporal"]["site"]), "one entry per (site, moment)"
    sites = d["sites"]
    # the sum over sites at each moment is the heap; at the peak each site's peak figure;
    # at the end (complete capture) its leaked figure
    live = {}
    by_moment = {}
    for s, m, b, k in zip(*(d["temporal"][c] for c in ("site", "moment", "bytes", "blocks"))):
        by_moment.setdefault(m, []).append((s, b, k))
    heap = blocks = 0
    for m in range(n):
        for s, b, k in by_moment.get(m, []):
            ob, ok = live.get(s, (0, 0))
            heap += b - ob
            blocks += k - ok
            live[s] = (b, k)
        assert (heap, blocks) == (tl["heap_bytes"][m], tl["heap_blocks"][m]), m
        if m == p:
            for s in range(len(sites["node"])):
                assert live.get(s, (0, 0)) == (sites["peak_bytes"][s], sites["peak_blocks"][s]), s
    if meta["complete"]:
        for s in range(len(sites["node"])):
            assert live.get(s, (0, 0)) == (sites["leaked_bytes"][s], sites["leaked_blocks"][s]), s
    for col, key in (("total_bytes", "bytes_allocated"), ("allocations", "allocations"),
                     ("leaked_bytes", "leaked_bytes"), ("leaked_blocks", "leaked_blocks"),
                     ("temporary_allocations", "temporary_allocations")):
        assert sum(sites[col]) == meta[key], col


@pytest.fixture
def flamegraph(reader, run, tmp_path):
    """flamegraph(CAPTURE, *ARGS) -> CompletedProcess of `memtap flamegraph ARGS CAPTURE`
    run in tmp_path."""
    return lambda capture, *args: run([reader, "flamegraph", *args, capture], cwd=tmp_path)


@pytest.fixture
def export(reader, run):
    """export(CAPTURE, *ARGS) -> stdout of `memtap export ARGS CAPTURE`, which must succeed."""
    def go(capture, *args):
        p = run([reader, "export", *args, capture])
        assert p.returncode == 0, p.stderr
        return p.stdout
    return go


@pytest.fixture
def known(prog, memtap_run):
    out, p = memtap_run("known", [prog("known_leaks")])
    assert p.returncode == 0, p.stderr
    return out


def test_page_of_known_leaks(known, flamegraph, report, tmp_path):
    p = flamegraph(known)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "memtap-flamegraph-known.html\n", "the default name, printed"
    d = page_data(tmp_path / "memtap-flamegraph-known.html")
    check_schema(d)
    s, meta = report("summary", known), d["meta"]
    for k in ("allocations", "frees", "bytes_allocated", "peak_bytes", "peak_blocks",
              "leaked_bytes", "leaked_blocks", "temporary_allocations", "max_rss_bytes", "pid",
              "ppid", "command", "executable", "complete"):
        assert meta[k] == s[k], k
    assert meta["capture"] == known and meta["view"] == "peak" and meta["python"] is False
    assert meta["min_percent"] == 0.1
    assert len(d["timeline"]["t_ms"]) >= 100
    assert set(d["frames"]["kind"]) <= {0, 3}, "native frames and [other] only"
    names = set(d["frames"]["name"])
    assert {"main", "leak_malloc", "leak_big", "leak_realloc_chain"} <= names
    assert d["allocator_kinds"][9] == "mmap" and len(d["allocator_kinds"]) == 13
    assert d["threads"] == [{"id": 0, "tid": meta["pid"], "name": "known_leaks"}]


def test_page_sites_exact(known, flamegraph, tmp_path):
    """--min-percent 0: every stack its own site, figures to the byte, frames to the line."""
    assert flamegraph(known, "--min-percent", "0", "--leaks", "-o", "all.html").returncode == 0
    d = page_data(tmp_path / "all.html")
    check_schema(d)
    assert d["meta"]["min_percent"] == 0 and d["meta"]["view"] == "leaked"
    fr, nodes, sites = d["frames"], d["nodes"], d["sites"]

    def innermost(site):
        return nodes["frame"][sites["node"][site]]
    leak_line = line_of("known_leaks.c", "LEAK:malloc")
    found = [i for i in range(len(sites["node"]))
             if fr["name"][innermost(i)] == "leak_malloc" and fr["line"][innermost(i)] == leak_line]
    assert len(found) == 1
    i = found[0]
    assert (sites["leaked_bytes"][i], sites["leaked_blocks"][i]) == (300, 3)
    assert (sites["total_bytes"][i], sites["allocations"][i]) == (300, 3)
    assert sites["kinds"][i] == 1, "malloc"
    assert fr["file"][innermost(i)].endswith("/known_leaks.c")
    assert fr["module"][innermost(i)] == "known_leaks"
    loop = [i for i in range(len(sites["node"])) if sites["allocations"][i] == 1000]
    assert len(loop) == 1 and sites["temporary_allocations"][loop[0]] == 1000
    assert sites["temporary_bytes"][loop[0]] == 32000
    assert sites["peak_bytes"][loop[0]] == 32, "the last malloc(32) of the loop at the peak"


def test_output_file_rules(known, flamegraph, tmp_path):
    assert flamegraph(known, "-o", "page.html").returncode == 0
    before = (tmp_path / "page.html").read_bytes()
    p = flamegraph(known, "-o", "page.html", "--leaks")
    assert p.returncode == 2 and "already exists" in p.stderr and "--force" in p.stderr
    assert (tmp_path / "page.html").read_bytes() == before, "never overwritten"
    assert flamegraph(known, "-o", "page.html", "--leaks", "--force").returncode == 0
    assert page_data(tmp_path / "page.html")["meta"]["view"] == "leaked"
    os.symlink("page.html", tmp_path / "link.html")
    p = flamegraph(known, "-o", "link.html", "--force")
    assert p.returncode == 2 and "symbolic link" in p.stderr
    p = flamegraph(known, "--min-percent", "101")
    assert p.returncode == 2 and "--min-percent" in p.stderr
    p = flamegraph(known, "--pid", "1")
    assert p.returncode == 2 and "no process 1" in p.stderr
    p = flamegraph(str(tmp_path / "missing.memtap"))
    assert p.returncode == 2 and "missing.memtap" in p.stderr


def test_timeline_exact(prog, memtap_run, flamegraph, tmp_path):
    """heap_steps: N blocks of 1..N bytes (odd sizes at one site, even at another), a pause,
    freed in order, a pause, 3 leaks of 1000. Every moment of the page must be an instant
    of that sequence, in order, each site's figures its share then."""
    n = 3000
    out, p = memtap_run("steps", [prog("heap_steps"), str(n)])
    assert p.returncode == 0, p.stderr
    assert flamegraph(out, "-o", "steps.html", "--min-percent", "0").returncode == 0
    d = page_data(tmp_path / "steps.html")
    check_schema(d)
    tl, sites, fr, nodes = d["timeline"], d["sites"], d["frames"], d["nodes"]
    site = {fr["name"][nodes["frame"][sites["node"][i]]]: i for i in range(len(sites["node"]))}
    odd, even, leak = site["odd_block"], site["even_block"], site["leak"]

    def tri(k):
        return k * (k + 1) // 2

    def odd_sum(k):  # 1 + 3 + ... up to k
        return ((k + 1) // 2) ** 2
    # every instant of the program: (heap bytes, blocks) -> [(its place in the sequence,
    # (odd site, even site, leak site) figures)]
    states = {}
    for k in range(n + 1):  # k blocks allocated
        o = (odd_sum(k), (k + 1) // 2)
        states.setdefault((tri(k), k), []).append((k, (o, (tri(k) - o[0], k - o[1]), (0, 0))))
    for j in range(n + 1):  # j blocks freed
        o = (odd_sum(n) - odd_sum(j), (n + 1) // 2 - (j + 1) // 2)
        b, k = tri(n) - tri(j), n - j
        states.setdefault((b, k), []).append((n + j, (o, (b - o[0], k - o[1]), (0, 0))))
    for m in range(4):  # m leaks
        states.setdefault((1000 * m, m), []).append((2 * n + m, ((0, 0), (0, 0), (1000 * m, m))))
    moments, place = len(tl["t_ms"]), -1
    assert 768 <= moments <= 1537, moments
    for m in range(moments):
        state = (tl["heap_bytes"][m], tl["heap_blocks"][m])
        assert state in states, f"moment {m}: {state} is no instant of the program"
        at = at_moment(d, m)
        got = tuple(at.get(s_, (0, 0)) for s_ in (odd, even, leak))
        fits = [i for i, want in states[state] if i >= place and want == got]
        assert fits, f"moment {m}: {state}, sites {got}, after instant {place}"
        place = min(fits)
    assert place == 2 * n + 3, "the last moment is the end"
    p_ = tl["peak_index"]
    assert (tl["heap_bytes"][p_], tl["heap_blocks"][p_]) == (tri(n), n)
    assert sites["peak_bytes"][odd] == odd_sum(n) and sites["peak_bytes"][even] == tri(n) - odd_sum(n)
    # the pause after the peak shows in time
    first_free = next(m for m in range(p_ + 1, moments) if tl["heap_blocks"][m] < n)
    assert tl["t_ms"][first_free] - tl["t_ms"][p_] >= 200, (tl["t_ms"][p_], tl["t_ms"][first_free])
    assert d["meta"]["leaked_bytes"] == 3000
    assert any(r for r in tl["rss_bytes"]), "RSS from the TIME markers"
    assert all(r is None or r > 0 for r in tl["rss_bytes"])


def test_threads_page(prog, memtap_run, flamegraph, tmp_path):
    """threads.c: 4 workers leak 7 x 1000 bytes each at one line: four sites, one a thread."""
    out, p = memtap_run("threads", [prog("threads")])
    assert p.returncode == 0, p.stderr
    assert flamegraph(out, "-o", "t.html", "--min-percent", "0").returncode == 0
    d = page_data(tmp_path / "t.html")
    check_schema(d)
    assert len(d["threads"]) == 5
    fr, nodes, sites = d["frames"], d["nodes"], d["sites"]
    line = line_of("threads.c", "LEAK:worker")
    leaks = [i for i in range(len(sites["node"]))
             if fr["line"][nodes["frame"][sites["node"][i]]] == line]
    assert len(leaks) == 4, "one stack, four threads: four sites"
    assert len({sites["node"][i] for i in leaks}) == 1
    assert sorted(sites["thread"][i] for i in leaks) == [1, 2, 3, 4]
    assert all((sites["leaked_bytes"][i], sites["leaked_blocks"][i]) == (7000, 7) for i in leaks)


def normalize_folded(text):
    """Folded stacks without what depends on the machine: frames outer of main (libc's
    start-up), unknown frames' addresses."""
    out = []
    for line in text.splitlines():
        stack, weight = line.rsplit(" ", 1)
        frames = stack.split(";")
        if "main" in frames:
            frames = frames[frames.index("main"):]
        frames = ["?" if re.match(r"^(\?\?|0x[0-9a-f]+|.*\+0x[0-9a-f]+)$", f) else f
                  for f in frames]
        out.append((";".join(frames), int(weight)))
    merged = {}
    for s, w in out:
        merged[s] = merged.get(s, 0) + w
    return "".join(f"{s} {w}\n" for s, w in sorted(merged.items()))


def normalize_speedscope(doc):
    """Speedscope's file without what depends on the machine: each sample as its frames'
    names (files by their last component), from main inwards, sorted."""
    frames = doc["shared"]["frames"]

    def name(i):
        f = frames[i]
        where = f"@{os.path.basename(f['file'])}:{f.get('line', 0)}" if "file" in f else ""
        return f["name"] + where
    prof = doc["profiles"][0]
    samples = []
    for stack, w in zip(prof["samples"], prof["weights"]):
        names = [name(i) for i in stack]
        mains = [k for k, x in enumerate(names) if x.startswith("main@")]
        samples.append([names[mains[0]:] if mains else names, w])
    return {"$schema": doc["$schema"], "type": prof["type"], "unit": prof["unit"],
            "startValue": prof["startValue"], "endValue": prof["endValue"],
            "samples": sorted(samples)}


def golden(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("MEMTAP_UPDATE_GOLDEN") == "1":
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert text == f.read(), f"{name} differs (MEMTAP_UPDATE_GOLDEN=1 rewrites it)"


def test_exports_sum_to_the_summary(known, export, report):
    s = report("summary", known)
    for view, key in (("--leaks", "leaked_bytes"), ("--peak", "peak_bytes"),
                      ("--total", "bytes_allocated"), ("--count", "allocations"),
                      ("--temporary", "temporary_allocations")):
        text = export(known, view)
        assert all(re.match(r"^\S[^\n]* \d+$", line) for line in text.splitlines()), text
        assert sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()) == s[key], view
    # a view's 1,000 largest stacks are kept whatever their share: none merged here
    assert "[other]" not in export(known, "--leaks")


def test_many_small_stacks_keep_the_largest(prog, memtap_run, export, report):
    """65,536 stacks of 0.0015 % each: each view's 1,000 largest stay, the rest is [other],
    and the figures still sum to the summary."""
    capture, p = memtap_run("s64k", [prog("stacks64k")])
    assert p.returncode == 0, p.stderr
    s = report("summary", capture)
    text = export(capture, "--count")
    lines = text.splitlines()
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == s["allocations"]
    other = sum(int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("[other] "))
    kept = s["allocations"] - other  # one allocation a stack: the stacks kept, + main's own
    assert 1000 <= kept <= 5 * 1000 + 2, kept
    assert "[other]" not in export(capture, "--count", "--min-percent", "0")


@pytest.mark.skipif(PAGE != 4096, reason="the golden figures assume 4 KiB pages")
def test_export_golden_folded_and_speedscope(known, export, report):
    folded = export(known, "--leaks", "--min-percent", "0")
    golden("known_leaks.leaks.folded", normalize_folded(folded))
    doc = json.loads(export(known, "--format", "speedscope", "--leaks", "--min-percent", "0"))
    assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    prof = doc["profiles"][0]
    assert prof["type"] == "sampled" and prof["unit"] == "bytes"
    assert len(prof["samples"]) == len(prof["weights"])
    assert all(0 <= i < len(doc["shared"]["frames"]) for st in prof["samples"] for i in st)
    assert sum(prof["weights"]) == prof["endValue"] == report("summary", known)["leaked_bytes"]
    golden("known_leaks.leaks.speedscope.json",
           json.dumps(normalize_speedscope(doc), indent=1, sort_keys=True) + "\n")


def test_export_json_tree_and_files(known, export, reader, run, tmp_path):
    doc = json.loads(export(known, "--format", "json", "--count", "--min-percent", "0"))
    assert doc["view"] == "count" and doc["unit"] == "count"
    tree = doc["tree"]
    assert tree["name"] == "all" and tree["value"] == doc["total"] == 1021

    def walk(node):
        kids = node["children"]
        assert node["value"] == node["self"] + sum(k["value"] for k in kids)
        assert [k["value"] for k in kids] == sorted((k["value"] for k in kids), reverse=True)
        for k in kids:
            walk(k)
    walk(tree)
    out = tmp_path / "out.folded"
    assert run([reader, "export", "-o", str(out), known]).returncode == 0
    assert out.read_text() == export(known)
    p = run([reader, "export", "-o", str(out), known])
    assert p.returncode == 2 and "already exists" in p.stderr
    p = run([reader, "export", "--format", "svg", known])
    assert p.returncode == 2 and "--format" in p.stderr


def test_python_page(python, memtap_run, flamegraph, tmp_path):
    script = tmp_path / "grow.py"
    script.write_text("def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n"
                      "keep = grow(500)\nprint('grown')\n")
    out, p = memtap_run("py", [python, str(script)])
    assert p.returncode == 0 and p.stdout == "grown\n", p.stderr
    assert flamegraph(out, "-o", "py.html", "--python-only").returncode == 0
    d = page_data(tmp_path / "py.html")
    check_schema(d)
    meta, fr = d["meta"], d["frames"]
    assert meta["python"] is True and meta["python_only"] is True
    kinds = dict(zip(fr["name"], fr["kind"]))
    assert kinds.get("grow") == 1 and kinds.get("<module>") == 1
    assert any(k == 2 for k in fr["kind"]), "native frames of the interpreter"
    interp = {m for m, k in zip(fr["module"], fr["kind"]) if k == 2}
    assert all(m.startswith("libpython") or m.startswith("python") for m in interp), interp
    assert all(m is None for m, k in zip(fr["module"], fr["kind"]) if k == 1)
    grow_line = [ln for n, ln in zip(fr["name"], fr["line"]) if n == "grow"]
    assert 2 in grow_line, "the line of the allocation in grow"


def test_markup_names_through_the_command(memtap, run, flamegraph, tmp_path):
    """A Python function named with </script> and a capture path holding it: the page's
    data block holds no markup, and the names read back whole."""
    evil = "</script><script>alert(1)</script><!--"
    python = "/usr/bin/python3.11"
    if not os.access(python, os.X_OK):
        pytest.skip(f"needs {python} (code objects with co_qualname)")
    script = tmp_path / "evil.py"
    script.write_text(
        "def grow(n):\n    return [bytearray(1000) for _ in range(n)]\n"
        f"grow.__code__ = grow.__code__.replace(co_name={evil!r}, co_qualname={evil!r})\n"
        "keep = grow(300)\n")
    (tmp_path / "<").mkdir()
    capture = str(tmp_path / "<" / "script>.memtap")
    p = run([memtap, "run", "-o", capture, "--", python, str(script)])
    assert p.returncode == 0, p.stderr
    assert flamegraph(capture, "-o", "evil.html").returncode == 0
    html = (tmp_path / "evil.html").read_text()
    assert html.count("</script>") == 4, "our three scripts and the data block"
    d = page_data(tmp_path / "evil.html")
    assert evil in d["frames"]["name"]
    assert d["meta"]["capture"] == capture
