"""Running `kb` as its own process for the storage and serving fault tests: as a user who may not write a read-only
file or folder (even when the tests run as root), `kb serve` on a free loopback port, with bounded waits; and, in
process, a save interrupted at its nth call and the peak memory of a block."""

from __future__ import annotations

import ctypes
import os
import re
import select
import shutil
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from contextlib import closing, contextmanager
from pathlib import Path

from harvest import sources

from .fixture_kb import copy_kb

ROOT = Path(__file__).parent.parent
KB = [sys.executable, "-c", "from kb.cli import cli; cli()"]  # the `kb` command, from this checkout
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2
# No command run here may reach a real service (pytest-socket does not reach into another process): every source's
# base URL is a closed loopback port.
OFFLINE_ENV = {**os.environ, **{source.env: "http://127.0.0.1:9/" for source in sources.ALL}}


def honour_permissions() -> None:
    """preexec_fn: the command then honours file permissions as any user does. Root ignores them through two
    capabilities; dropped from the bounding set, they are gone after exec (a user who is not root has neither)."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def kb(*args, restricted: bool = False, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run `kb ARGS` to its end (at most `timeout` seconds); `restricted`: as a user bound by file permissions."""
    return subprocess.run([*KB, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=honour_permissions if restricted else None, env=OFFLINE_ENV, **kwargs)


def wal_copy(fixture_kb: Path, target: Path) -> Path:
    """A copy of the fixtures KB as `kb` leaves a KB: in WAL mode, with no -wal or -shm file beside it."""
    copy_kb(fixture_kb, target)
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal"
    assert not sidecars(target)
    return target


def sidecars(path: Path) -> list[str]:
    """The -wal, -shm and -journal files beside the KB at `path`."""
    return sorted(p.name for p in Path(path).parent.glob(Path(path).name + "-*"))


@contextmanager
def read_only(*paths: Path):
    """The files and folders `paths` read-only while the block runs (their modes restored after)."""
    modes = {p: p.stat().st_mode for p in paths}
    try:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@contextmanager
def serving(db: Path, *args, restricted: bool = False, wait: float = 60):
    """`kb serve --db DB --port 0 ARGS` as its own process: yields (process, URL) once it prints its URL. The block
    ends it (SIGTERM) if it has not; its exit code is then the process's returncode."""
    process = subprocess.Popen([*KB, "serve", "--db", str(db), "--port", "0", *map(str, args)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=OFFLINE_ENV,
                               preexec_fn=honour_permissions if restricted else None)
    try:
        ready, _, _ = select.select([process.stdout], [], [], wait)
        line = process.stdout.readline() if ready else ""
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        if not url:
            process.kill()
            raise AssertionError(f"kb serve printed {line!r}; stderr: {process.communicate(timeout=10)[1]}")
        yield process, url[0]
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


def stop(process: subprocess.Popen, timeout: float = 15) -> tuple[int, float]:
    """SIGTERM to `process`: its exit code and the seconds it took to end."""
    start = time.monotonic()
    process.terminate()
    code = process.wait(timeout=timeout)
    return code, time.monotonic() - start


def have(command: str) -> bool:
    return shutil.which(command) is not None


def interrupted_at(call: int, function):
    """`function`, raising KeyboardInterrupt (Ctrl-C) at its `call`th call instead of running."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return wrapped


@contextmanager
def peak_memory():
    """The peak of Python's traced allocations within the block, in bytes: `with peak_memory() as peak: ...;
    peak[0]`."""
    peak = [0]
    tracemalloc.start()
    try:
        yield peak
        peak[0] = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
