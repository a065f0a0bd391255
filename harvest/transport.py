"""What `harvest.http.get` stands on: stop requests, the watchdog that enforces a request's deadline, the shared
session whose connections the watchdog can cut, and each host's rate, pauses and run of failures.

A blocked socket read cannot be interrupted from Python (a signal handler runs, then the read resumes), so a request
that must end is ended by shutting its socket down from the watchdog thread: the read returns at once and `get`
raises the error that says why (deadline or stop).
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

STOP_GRACE = 5.0  # seconds a request in flight may still take once a stop is requested
_stop: tuple[str, float] | None = None  # (why, when) once a stop is requested


def setting(name: str, default: float) -> float:
    """A numeric setting from the environment."""
    return float(os.environ.get(name, default))


# --- stop requests ---------------------------------------------------------------------------------------------------


def interrupt(why: str) -> None:
    """Ask every request to stop (safe in a signal handler: one assignment). A request in flight gets STOP_GRACE
    seconds to finish, then its connection is cut; a retry's wait ends at once; no new request is sent."""
    global _stop
    _stop = _stop or (why, time.monotonic())


def resume() -> None:
    """Forget the stop request (the end of a `kb refresh`)."""
    global _stop
    _stop = None


def stop_reason() -> str | None:
    """Why a stop was requested ("SIGTERM"), or None."""
    stop = _stop
    return stop[0] if stop else None


def due(deadline: float) -> str | None:
    """Why a request must end now: "stop" (a stop's grace is over), "deadline", or None."""
    now, stop = time.monotonic(), _stop
    if stop and now >= stop[1] + STOP_GRACE:
        return "stop"
    return "deadline" if now >= deadline else None


# --- the watchdog ----------------------------------------------------------------------------------------------------


class Flight:
    """One call of `get` in one thread: its deadline and the connection it is using, watched by a thread that shuts
    that connection down once the request is `due` (a blocked read then returns); `cut` says why it did."""

    def __init__(self, deadline: float):
        self.deadline, self.connection, self.cut = deadline, None, None
        self._lock, self._done = threading.Lock(), threading.Event()
        threading.Thread(target=self._watch, name="kb-http-watchdog", daemon=True).start()
        _current.flight = self

    def attach(self, connection) -> None:
        """Watch `connection` (a urllib3 connection, or the socket a response reads from)."""
        with self._lock:
            self.connection = connection

    def detach(self) -> None:
        with self._lock:
            self.connection = None

    def land(self) -> None:
        """The call is over: stop watching (never cut a connection handed back to the pool)."""
        with self._lock:
            self._done.set()
        _current.flight = None

    def _watch(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # signals go to the main thread
        while not self._done.wait(0.05):
            reason = due(self.deadline)
            if reason is None:
                continue
            with self._lock:
                if self._done.is_set():
                    return
                self.cut = self.cut or reason
                sock = self.connection
                if not isinstance(sock, socket.socket):
                    sock = getattr(sock, "sock", None)
                if sock is not None:
                    try:
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket, also under TLS
                    except OSError:
                        pass


_current = threading.local()


def response_socket(response: requests.Response) -> socket.socket | None:
    """The socket a streamed response reads from: its connection's, or (when the server closes after the response,
    and http.client hands the socket over to the response) the one under the response's file."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        stream = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(stream, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Watched:
    """A urllib3 connection that tells the flight of its thread which connection it is using."""

    def request(self, *args, **kwargs):
        flight = getattr(_current, "flight", None)
        if flight is not None:
            flight.attach(self)
        return super().request(*args, **kwargs)


class _Connection(_Watched, HTTPConnection):
    pass


class _TLSConnection(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


class _Adapter(HTTPAdapter):
    """requests' adapter with watched connections and no retries of its own (`get` decides what to retry)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}

    def proxy_manager_for(self, *args, **kwargs):
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
        return manager


@functools.lru_cache(maxsize=4)
def session(agent: str) -> requests.Session:
    """The shared session (one per User-Agent)."""
    shared = requests.Session()
    adapter = _Adapter(max_retries=0)
    shared.mount("http://", adapter)
    shared.mount("https://", adapter)
    shared.headers["User-Agent"] = agent
    return shared


# --- hosts: rate, pauses, runs of failures ---------------------------------------------------------------------------


class Hosts:
    """Per host: the next free slot (requests at least 1/rate seconds apart), a pause (until, why), and how many
    requests in a row failed."""

    def __init__(self):
        self._next: dict[str, float] = {}
        self._paused: dict[str, tuple[float, str]] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def slot(self, host: str, per_second: float) -> tuple[float, str]:
        """Reserve the next request to `host`: (seconds to wait for it, why the host is paused or "")."""
        with self._lock:
            now = time.monotonic()
            until, why = self._paused.get(host, (0.0, ""))
            start = max(now, self._next.get(host, now), until)
            self._next[host] = start + 1 / per_second
            return start - now, why if until > now else ""

    def pause(self, host: str, seconds: float, why: str) -> None:
        """No request to `host` for `seconds` (a longer pause already set is kept)."""
        with self._lock:
            until = time.monotonic() + seconds
            if until > self._paused.get(host, (0.0, ""))[0]:
                self._paused[host] = (until, why)

    def ok(self, host: str) -> None:
        """The host answered (whatever the answer): its run of failures ends."""
        with self._lock:
            self._failures.pop(host, None)

    def failed(self, host: str) -> None:
        """Count a failed request; KB_HOST_FAILURES in a row (default 3; 0: never) pause the host for KB_HOST_PAUSE
        seconds (default 600)."""
        with self._lock:
            self._failures[host] = count = self._failures.get(host, 0) + 1
        limit = int(setting("KB_HOST_FAILURES", 3))
        if limit and count >= limit:
            self.pause(host, setting("KB_HOST_PAUSE", 600), f"{count} requests in a row failed")

    def reset(self) -> None:
        with self._lock:
            self._next.clear()
            self._paused.clear()
            self._failures.clear()


hosts = Hosts()


# --- reading what went wrong -----------------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """The wall-clock time `seconds` from now, e.g. 13:05:09 UTC."""
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")


def retry_after(response: requests.Response) -> float | None:
    """The `Retry-After` of a response in seconds (a number or an HTTP date), or None."""
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps (causes, contexts, urllib3 reasons, arguments)."""
    todo, seen = [exc], set()
    while todo:
        item = todo.pop()
        if isinstance(item, BaseException) and id(item) not in seen:
            seen.add(id(item))
            yield item
            todo += [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
