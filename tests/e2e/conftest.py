"""Fixtures of the end-to-end tests: memtap's build, a runner that never leaves a hung
program behind, `memtap run` into the test's own tmp_path, JSON reports, and the Python
interpreters to test on.

    /usr/bin/python3 -m pytest tests/e2e [--build DIR] [-k NAME]   (make e2e does this)

The reader used for reports can be swapped with MEMTAP_READER (make asan does); programs
always run under the build's own `memtap run`."""
import json
import os
import signal
import subprocess

import pytest

from memtap_e2e import ROOT, python_interpreters


def pytest_addoption(parser):
    parser.addoption("--build", default=os.path.join(ROOT, "build"),
                     help="memtap's build directory (default: build/ of this tree)")


def pytest_configure(config):
    build = os.path.abspath(config.getoption("--build"))
    missing = [p for p in ("memtap", "libmemtap.so", "e2e/known_leaks")
               if not os.path.exists(os.path.join(build, p))]
    if missing:
        raise pytest.UsageError(f"{build} lacks {', '.join(missing)}: run `make e2e`, "
                                "which builds memtap and the test programs first")


def run_command(args, timeout=120, **kw):
    """Runs args to completion and returns the CompletedProcess (text output). On timeout
    the whole process group is killed (a hung program must not keep running, or writing,
    after the test gave up on it) and the test fails."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("text", True)
    with subprocess.Popen(args, start_new_session=True, **kw) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"timed out after {timeout} s (hung?): {' '.join(map(str, args))}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


@pytest.fixture(scope="session")
def build(request):
    """memtap's build directory (absolute)."""
    return os.path.abspath(request.config.getoption("--build"))


@pytest.fixture(scope="session")
def memtap(build):
    """The memtap binary that runs programs (`memtap run`)."""
    return os.path.join(build, "memtap")


@pytest.fixture(scope="session")
def reader(memtap):
    """The memtap binary that reads captures: $MEMTAP_READER (an ASan build under make
    asan), else the build's."""
    return os.environ.get("MEMTAP_READER") or memtap


@pytest.fixture(scope="session")
def prog(build):
    """prog(NAME): the path of a test program built from tests/e2e/progs."""
    return lambda name: os.path.join(build, "e2e", name)


@pytest.fixture
def run():
    """run(ARGS, timeout=120, **popen_kw): run_command above."""
    return run_command


@pytest.fixture
def spawn():
    """spawn(ARGS, **popen_kw): a Popen in a session of its own, for tests that signal a
    running program; whatever is still running at the test's end is killed with its
    whole process group."""
    procs = []

    def start(args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        proc = subprocess.Popen(args, start_new_session=True, **kw)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


@pytest.fixture
def memtap_run(memtap, tmp_path):
    """memtap_run(NAME, ARGS, *OPTIONS, **run_kw) -> (capture, CompletedProcess): runs
    `memtap run OPTIONS -o TMP/NAME.memtap -- ARGS`; the capture lies in the test's own
    tmp_path."""
    def go(name, args, *options, **kw):
        out = str(tmp_path / (name + ".memtap"))
        return out, run_command([memtap, "run", *options, "-o", out, "--", *args], **kw)
    return go


@pytest.fixture
def report(reader):
    """report(CMD, CAPTURE, *EXTRA) -> dict: `memtap CMD --json EXTRA CAPTURE`, which must
    succeed."""
    def go(cmd, path, *extra):
        p = run_command([reader, cmd, "--json", *extra, path])
        assert p.returncode == 0, f"memtap {cmd} failed ({p.returncode}): {p.stderr}"
        return json.loads(p.stdout)
    return go


INTERPRETERS = python_interpreters()


@pytest.fixture(scope="session")
def pythons():
    """The installed interpreters among python_interpreters(), as (version, path)."""
    return [(v, p) for v, p in INTERPRETERS if os.access(p, os.X_OK)]


@pytest.fixture(params=INTERPRETERS, ids=[v for v, _ in INTERPRETERS])
def python(request):
    """Each interpreter of python_interpreters() in turn (a test a version); one not
    installed skips its test and says where it was looked for."""
    version, path = request.param
    if not os.access(path, os.X_OK):
        pytest.skip(f"Python {version} is not installed: no interpreter at {path}")
    return path
