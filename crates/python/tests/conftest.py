"""Shared fixtures: unique names, a clean /dev/shm, subprocess helpers, the Rust peer."""

import gc
import itertools
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
_seq = itertools.count()


def shm_files():
    """This test process's segments: the names its tests choose
    (``pyt-PID-N``) and the fresh names shmkit makes here (``py-KIND-PID-...``).
    Other runs of the suite, in parallel, are left alone."""
    pid = os.getpid()
    mine = ("shmkit.pyt-%d-" % pid, "shmkit.py-")
    try:
        names = os.listdir("/dev/shm")
    except FileNotFoundError:
        return set()
    return {
        f for f in names
        if f.startswith(mine[0]) or (f.startswith(mine[1]) and f.split("-")[2:3] == [str(pid)])
    }


@pytest.fixture
def name():
    """A name no other test (or run) uses."""
    return "pyt-%d-%d" % (os.getpid(), next(_seq))


@pytest.fixture(autouse=True)
def clean_shm():
    """Every test leaves /dev/shm as it found it."""
    before = shm_files()
    yield
    gc.collect()
    left = shm_files() - before
    for f in left:
        os.unlink(os.path.join("/dev/shm", f))
    assert not left, "segments left behind: %s" % sorted(left)


def run_py(code, *args, timeout=60, check=True, **kwargs):
    """Runs `code` in a fresh Python (not a child sharing our objects): the
    attach-by-name path. Returns the CompletedProcess."""
    p = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, **kwargs,
    )
    if check and p.returncode != 0:
        raise AssertionError("child failed (%d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    return p


def popen_py(code, *args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True, **kwargs,
    )


@pytest.fixture(scope="session")
def peer():
    """The Rust interop peer (crates/python/examples/py_peer.rs), built once."""
    exe = os.environ.get("SHMKIT_PY_PEER")
    if not exe:
        subprocess.run(
            ["cargo", "build", "-q", "-p", "shmkit-python", "--example", "py_peer"],
            cwd=ROOT, check=True, timeout=900,
        )
        exe = os.path.join(ROOT, "target", "debug", "examples", "py_peer")
    return exe
