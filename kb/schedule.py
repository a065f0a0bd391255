"""Running a refresh unattended: one writer at a time (a lock file), stopping cleanly on SIGTERM/SIGINT, and
repeating every interval (`kb refresh --every 24h`).

A stop request is passed on to the HTTP layer (`harvest.http.interrupt`): the request in flight gets a few seconds
(`harvest.transport.STOP_GRACE`) to finish, then its connection is cut, so a slow or stalled server cannot hold the
refresh (and its lock) after SIGTERM.

An exclusive `flock` on `<db>.refresh.lock` keeps a second refresh from writing at the same time; the OS releases it
when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils

from harvest import http
from kb import pipeline, refresh

EXIT_LOCKED = 3


class Locked(Exception):
    """Another refresh holds the lock of this database."""


class StopFlag:
    """Signal handler for SIGTERM/SIGINT: the refresh asks it between records and while waiting for the next run;
    the HTTP layer is told at once (it ends the request in flight within its grace)."""

    def __init__(self):
        self.signal: str | None = None

    def __call__(self, signum, frame):
        self.signal = signal.Signals(signum).name
        http.interrupt(self.signal)

    def stopped(self) -> bool:
        return self.signal is not None

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, returning early once a stop is requested."""
        deadline = time.monotonic() + seconds
        while self.signal is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))


@contextmanager
def refresh_lock(db_path: str):
    """Hold an exclusive flock on `<db>.refresh.lock` (the file keeps the holder's pid); Locked if it is taken."""
    path = Path(f"{db_path}.refresh.lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Locked(f"another refresh is writing to {db_path} (pid {handle.read().strip() or '?'} holds "
                         f"{path}); nothing done") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


@contextmanager
def stop_on_signals():
    """A StopFlag installed for SIGTERM and SIGINT while the block runs."""
    flag = StopFlag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        http.resume()


def run(db: sqlite_utils.Database, stop: StopFlag, every: int | None, backfill: bool,
        emit: pipeline.Emit) -> refresh.RefreshSummary:
    """One refresh, or (with `every`) one every `every` seconds until a stop is requested; the last summary."""
    while True:
        summary = refresh.refresh_once(db, stop.stopped, backfill, emit)
        emit(pipeline.Event(summary.line()))
        if not every or stop.signal:
            break
        next_run = datetime.now(timezone.utc) + timedelta(seconds=every)
        emit(pipeline.Event(f"refresh: next run at {next_run.isoformat(timespec='seconds')}"))
        stop.sleep(every)
        if stop.signal:
            break
    if stop.signal:
        emit(pipeline.Event(f"refresh: stopped by {stop.signal}; records not reached are refreshed by the next run"))
    return summary
