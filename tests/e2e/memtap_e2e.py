"""Plain helpers of the end-to-end tests (no fixtures): where a tagged line is in the test
programs' sources, which report site sits at a line, which Python interpreters to test.
The fixtures that run programs are in conftest.py."""
import os
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))  # the repository
PROGS_SRC = os.path.join(HERE, "progs")
PY_SRC = os.path.join(PROGS_SRC, "python")
PAGE = os.sysconf("SC_PAGESIZE")


def line_of(source, tag):
    """Line number of the first line containing `tag` in tests/e2e/progs/<source>."""
    with open(os.path.join(PROGS_SRC, source)) as f:
        for n, text in enumerate(f, 1):
            if tag in text:
                return n
    raise AssertionError(f"tag {tag} not in {source}")


def py_line_of(name, tag):
    """Line number in tests/e2e/progs/python/<name> of the line tagged `# tag` or `/* tag`,
    or starting with `tag` (a module-level call such as `fill(held)`)."""
    with open(os.path.join(PY_SRC, name)) as f:
        for n, text in enumerate(f, 1):
            if "# " + tag in text or "/* " + tag in text or text.startswith(tag):
                return n
    raise AssertionError(f"{tag} not in {name}")


def site_at(sites, source, line, function=None):
    """The one site whose stack has a frame at source:line (optionally in function)."""
    found = []
    for s in sites:
        for fr in s["stack"]:
            if fr["file"] and fr["file"].endswith("/" + source) and fr["line"] == line:
                if function is None or fr["function"] == function:
                    found.append(s)
                    break
    assert len(found) == 1, f"expected one site at {source}:{line}, found {len(found)}"
    return found[0]


def innermost_python(frames):
    """Index of the innermost Python frame of a stack, or None."""
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


def py_eval(python, expr):
    """What `print(expr)` prints under the interpreter python."""
    return subprocess.run([python, "-c", f"print({expr})"], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def children_of(capture):
    """Every file beside `capture` named CAPTURE.<something>: what forked children wrote
    (CAPTURE.<pid>), and anything else that should not be there."""
    directory = os.path.dirname(capture)
    base = os.path.basename(capture) + "."
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(base))


def pyenv_root():
    """pyenv's root ($PYENV_ROOT, else `pyenv root`, else ~/.pyenv)."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                              timeout=60).stdout.strip()
    return root or os.path.expanduser("~/.pyenv")


def python_interpreters():
    """(version, path) of each interpreter the Python tests run on, installed or not:
    Debian's (libpython inside the executable) and pyenv's shared-library builds."""
    root = pyenv_root()
    return [
        ("3.11", "/usr/bin/python3.11"),
        ("3.12", os.path.join(root, "versions", "3.12.1", "bin", "python3.12")),
        ("3.13", os.path.join(root, "versions", "3.13.0", "bin", "python3.13")),
    ]
