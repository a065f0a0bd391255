"""Network faults against the HTTP layer (issue 14, items 2, 3, 4, 9 and 14), on loopback servers only.

- deadline: a server trickling a body or its headers one byte at a time, retry waits, and a stop request (SIGTERM)
  cutting a read that would otherwise go on;
- size: a gzip bomb made on the fly (a few hundred KB that inflate to 256 MiB) under a small Content-Length;
- pauses: 429 with Retry-After: 3600, a run of 503s, and what `kb refresh` does then;
- secrets: a redirect carrying the original query (API key, e-mail) inside a `next` parameter, and a body echoing it;
- offline: a name that does not resolve (socket.getaddrinfo raising gaierror, no connection attempted) and a refused
  connection (a closed loopback port) fail at once; `kb build` fails in seconds; run.sh says so in one line.

Every server loop is bounded (a fixed number of bytes, or until the client goes away).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from harvest import errors, http, sources
from harvest.errors import UpstreamError
from harvest.registries import ctgov
from kb import cli, pipeline
from kb.store.schema import open_db

from . import test_refresh as helpers
from .conftest import db_dump, fixture_bytes
from .faults import peak_memory
from .loopback import LoopbackServer, Reply
from .test_refresh_process import RUN, start, wait_for

REPO = Path(__file__).parent.parent
STUDY = fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
PATH = "/ctgov/studies/NCT00791778"
SECRETS = {"NCBI_API_KEY": "SECRETKEY123", "KB_CONTACT_EMAIL": "curator@example.org",
           "CINII_APPID": "appid-secret-42"}


@pytest.fixture(autouse=True)
def fresh_hosts():
    """No host pause or failure count carried from one test to the next (ports are reused)."""
    getattr(http, "reset_hosts", lambda: None)()
    yield
    getattr(http, "reset_hosts", lambda: None)()


class RawServer:
    """A loopback server speaking raw HTTP: `handle(path, send)` writes what it likes with `send(bytes)` (which
    returns False once the client has gone or the server is closing), one thread per connection."""

    def __init__(self, handle):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closing, self.paths = threading.Event(), []
        self.handle = handle
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            request = conn.recv(65536).decode("latin-1")
            path = request.split(" ")[1] if " " in request else "/"
            self.paths.append(path)

            def send(data: bytes) -> bool:
                if self.closing.is_set():
                    return False
                try:
                    conn.sendall(data)
                    return True
                except OSError:
                    return False

            self.handle(path, send)

    def close(self):
        self.closing.set()
        self.listener.close()


def trickle(send, data: bytes, every: float) -> None:
    """Send `data` one byte every `every` seconds (bounded by len(data); ends when the client goes away)."""
    for i in range(len(data)):
        if not send(data[i:i + 1]):
            return
        time.sleep(every)


def stall(send, seconds: float) -> None:
    """Send nothing for up to `seconds` (ends early when the server closes)."""
    for _ in range(int(seconds / 0.1)):
        if not send(b""):
            return
        time.sleep(0.1)


def headers(length: int, extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}"
            "Connection: close\r\n\r\n").encode()


@pytest.fixture
def raw(monkeypatch):
    servers = []

    def make(handle) -> RawServer:
        server = RawServer(handle)
        servers.append(server)
        monkeypatch.setenv("KB_CTGOV_URL", server.url + "/ctgov")
        monkeypatch.setenv("KB_CTGOV_RATE", "1000")
        monkeypatch.setenv("KB_BACKOFF", "0")
        return server

    yield make
    for server in servers:
        server.close()


# --- 2: one deadline per request, and stop requests that interrupt a read ------------------------------------------


def test_a_trickling_body_is_abandoned_at_the_deadline(raw, monkeypatch):
    """One byte every 0.1 s never trips a 1 s read timeout; the 1.5 s deadline ends it (the body would take 8 s)."""
    monkeypatch.setenv("KB_READ_TIMEOUT", "1")
    monkeypatch.setenv("KB_REQUEST_DEADLINE", "1.5")
    body = b'{"trickle": "' + b"x" * 64 + b'"}'
    raw(lambda path, send: send(headers(len(body))) and trickle(send, body, 0.1))
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"NCT00791778: upstream failure: no complete response within 1\.5 s "
                                            r"\(KB_REQUEST_DEADLINE; \d+ bytes received\); abandoned$"):
        ctgov.fetch_study("NCT00791778")
    assert 1.4 < time.monotonic() - started < 2.5


def test_trickled_headers_are_abandoned_at_the_deadline(raw, monkeypatch):
    monkeypatch.setenv("KB_READ_TIMEOUT", "1")
    monkeypatch.setenv("KB_REQUEST_DEADLINE", "1")
    raw(lambda path, send: trickle(send, headers(2, "X-Slow: " + "y" * 60 + "\r\n") + b"{}", 0.1))
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"no complete response within 1 s"):
        ctgov.fetch_study("NCT00791778")
    assert time.monotonic() - started < 2


def test_the_waits_between_retries_count_against_the_deadline(server, monkeypatch):
    """Six tries one second apart would take 5 s; with a 1.5 s deadline the request gives up after the second."""
    monkeypatch.setenv("KB_REQUEST_DEADLINE", "1.5")
    monkeypatch.setenv("KB_RETRIES", "5")
    server.route(PATH, Reply(503, b"busy", {"Retry-After": "1"}))
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"HTTP 503 from .* \(2 tries\); gave up: the next try would start after "
                                            r"the 1\.5 s deadline \(KB_REQUEST_DEADLINE\)$"):
        ctgov.fetch_study("NCT00791778")
    assert time.monotonic() - started < 1.5 and server.count(PATH) == 2


def test_a_stop_request_cuts_a_stalled_read_after_its_grace(raw, monkeypatch):
    """The server sends its headers and then nothing (a 30 s read timeout, a 60 s deadline): SIGTERM, caught by
    `kb refresh`'s handler, ends the read once the grace (shortened here to 0.5 s) is over."""
    from harvest import transport
    from kb import schedule

    monkeypatch.setattr(transport, "STOP_GRACE", 0.5)
    monkeypatch.setenv("KB_READ_TIMEOUT", "30")
    monkeypatch.setenv("KB_REQUEST_DEADLINE", "60")
    server = raw(lambda path, send: send(headers(100)) and stall(send, 30))
    main = threading.main_thread().ident
    timer = threading.Timer(0.5, signal.pthread_kill, args=(main, signal.SIGTERM))
    started = time.monotonic()
    with schedule.stop_on_signals() as flag:
        timer.start()
        with pytest.raises(errors.Interrupted, match=r"NCT00791778: interrupted: stopped by SIGTERM while waiting for "
                                                     r"the response \(0 bytes received\); nothing of it kept"):
            ctgov.fetch_study("NCT00791778")
    assert flag.signal == "SIGTERM" and time.monotonic() - started < 2.5 and len(server.paths) == 1
    assert transport.stop_reason() is None  # forgotten once the refresh is over


def test_sigterm_ends_kb_refresh_held_by_a_trickling_server(tmp_path, server, monkeypatch):
    """`kb refresh` as a process, its one changed record trickling at 5 bytes a second (40 s for the body): SIGTERM
    ends it within the 5 s grace, with the interrupted record named and nothing of it stored."""
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, STUDY)
    later = helpers.modified(STUDY)

    def handle(path, send):
        if "fields=" in path:  # the change list
            listed = helpers.change_list(later)
            send(headers(len(listed)) + listed)
        else:  # the page of the changed record
            send(headers(len(helpers.page(later)))) and trickle(send, helpers.page(later)[:200], 0.2)

    trickler = RawServer(handle)
    monkeypatch.setenv("KB_CTGOV_URL", trickler.url + "/ctgov")
    process = start(RUN, "--db", db_path)
    try:
        wait_for(lambda: len(trickler.paths) == 2)
        time.sleep(0.5)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(12) == 0
        took = time.monotonic() - sent
        out, err = process.communicate()
    finally:
        process.kill()
        trickler.close()
    assert took < 7, took
    assert "NCT00791778: interrupted: stopped by SIGTERM" in out and "stopped by SIGTERM" in out
    assert "1 checked, 0 changed, 0 failed" in out
    assert len(helpers.versions(db_path, "NCT00791778")) == 1


# --- 3: the body is capped after decompression -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def gzip_bomb(inflated: int = 256 * 2**20) -> bytes:
    """A gzip stream of `inflated` zero bytes, compressed chunk by chunk (never held inflated)."""
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(2**20)
    return b"".join([*(packer.compress(zeros) for _ in range(inflated // len(zeros))), packer.flush()])


def test_a_gzip_bomb_is_refused_after_decompression_within_bounded_memory(server, monkeypatch):
    monkeypatch.setenv("KB_MAX_BODY_BYTES", str(8 * 2**20))
    bomb = gzip_bomb()
    assert len(bomb) < 2**20  # under a megabyte on the wire, 256 MiB once inflated
    server.route(PATH, Reply(200, bomb, {"Content-Encoding": "gzip"}))
    with peak_memory() as peak, pytest.raises(
            UpstreamError, match=r"^ClinicalTrials.gov NCT00791778: upstream failure: response larger than 8,388,608 "
                                 r"bytes once decompressed \(KB_MAX_BODY_BYTES\); abandoned, nothing kept$"):
        ctgov.fetch_study("NCT00791778")
    assert peak[0] < 24 * 2**20, f"peak {peak[0] / 2**20:.1f} MiB"
    assert server.count(PATH) == 1  # refused, not retried


def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(server, monkeypatch):
    monkeypatch.setenv("KB_MAX_BODY_BYTES", "1000")
    server.route(PATH, Reply(200, STUDY))
    with pytest.raises(UpstreamError, match=r"response larger than 1,000 bytes once decompressed"):
        ctgov.fetch_study("NCT00791778")


def test_a_compressed_body_under_the_cap_is_kept_whole(server, monkeypatch):
    monkeypatch.setenv("KB_MAX_BODY_BYTES", str(len(STUDY)))
    server.route(PATH, Reply(200, gzip.compress(STUDY), {"Content-Encoding": "gzip"}))
    assert ctgov.fetch_study("NCT00791778").body == STUDY


# --- 4: a 429 or a run of failures pauses the whole host; refresh stops early ------------------------------------


def test_a_429_with_a_long_retry_after_pauses_the_host(server, monkeypatch):
    monkeypatch.setenv("KB_MAX_RETRY_AFTER", "60")
    server.route(PATH, Reply(429, b"slow down", {"Retry-After": "3600"}))
    started = time.monotonic()
    with pytest.raises(errors.HostPaused, match=r"NCT00791778: host paused: 127\.0\.0\.1:\d+ answered HTTP 429 with "
                                                r"Retry-After 3600 s, more than KB_MAX_RETRY_AFTER \(60 s\): not "
                                                r"asked again until \d\d:\d\d:\d\d UTC$"):
        ctgov.fetch_study("NCT00791778")
    with pytest.raises(errors.HostPaused, match=r"NCT00000002: host paused: .* is paused until .* \(HTTP 429 with "
                                                r"Retry-After 3600 s, .*\); no request sent$"):
        ctgov.fetch_study("NCT00000002")
    assert time.monotonic() - started < 1 and len(server.requests) == 1


def test_a_short_retry_after_pauses_every_request_to_that_host(monkeypatch):
    """While one request waits out a 429's Retry-After (1 s), another request to the same host waits too."""
    seen, first = [], threading.Event()

    def answer(path, query):
        seen.append((path, time.monotonic()))
        if path == "/ctgov/studies/NCT00000001" and not first.is_set():
            first.set()
            return Reply(429, b"", {"Retry-After": "1"})
        return Reply(200, STUDY)

    loop = LoopbackServer(answer)
    monkeypatch.setenv("KB_CTGOV_URL", loop.url + "/ctgov")
    monkeypatch.setenv("KB_CTGOV_RATE", "1000")
    try:
        waiting = threading.Thread(target=ctgov.fetch_study, args=("NCT00000001",))
        waiting.start()
        first.wait(5)
        time.sleep(0.3)  # the first request is now waiting out its Retry-After
        ctgov.fetch_study("NCT00000002")
        waiting.join(5)
    finally:
        loop.close()
    refused, other = seen[0][1], next(at for path, at in seen if path == "/ctgov/studies/NCT00000002")
    assert other - refused >= 0.9 and len(seen) == 3


def trials_to_refresh(tmp_path, server, count: int, reply: Reply):
    """A KB of `count` trials (RENUMBERED copies of a recorded study), each changed in the registry and answering
    `reply` when their page is fetched."""
    originals = [helpers.renumbered(helpers.SMALL[0], f"NCT{90000000 + i:08d}") for i in range(count)]
    db_path = tmp_path / "kb.db"
    helpers.seed(db_path, *originals)
    later = [helpers.modified(body) for body in originals]
    server.route(helpers.SEARCH, helpers.registry(tuple(later), reply))
    return db_path


def test_refresh_stops_at_a_long_retry_after_and_says_what_is_left(tmp_path, server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "1")
    db_path = trials_to_refresh(tmp_path, server, 5, Reply(429, b"slow down", {"Retry-After": "3600"}))
    before = db_dump(db_path)
    started = time.monotonic()
    result = helpers.run(db_path)
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert len(helpers.page_requests(server)) == 1
    stopped = [line for line in result.stderr.splitlines() if line]
    assert len(stopped) == 1 and stopped[0].startswith("kb: refresh stopped early: 127.0.0.1:")
    assert "HTTP 429 with Retry-After 3600 s" in stopped[0]
    assert stopped[0].endswith("; 5 of 5 records to fetch are left for the next run")
    assert "refresh: 5 checked, 0 changed, 0 failed, 5 left for the next run, 2 requests" in result.stdout
    assert db_dump(db_path) == before


def test_refresh_stops_after_three_failures_in_a_row(tmp_path, server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "0")
    monkeypatch.setattr("harvest.registries.ctgov.IDS_PER_REQUEST", 1)  # a page per record
    db_path = trials_to_refresh(tmp_path, server, 6, Reply(503, b"down"))
    result = helpers.run(db_path)
    assert result.exit_code == 1
    assert len(helpers.page_requests(server)) == 3
    lines = [line for line in result.stderr.splitlines() if line]
    assert len(lines) == 4 and all("HTTP 503 from" in line for line in lines[:3])
    assert lines[3].startswith("kb: refresh stopped early: 127.0.0.1:") and "(3 requests in a row failed)" in lines[3]
    assert lines[3].endswith("; 3 of 6 records to fetch are left for the next run")
    # 6 change-list requests (one ID each, like the pages) and 3 pages; the 4th is not sent
    assert "refresh: 6 checked, 0 changed, 3 failed, 3 left for the next run, 9 requests" in result.stdout


# --- 9: secret values are hidden wherever they appear ---------------------------------------------------------------


def encodings(value: str) -> set[str]:
    """`value` as it may appear in a URL or a message: plain, percent-encoded once or twice, upper or lower case."""
    once = quote(value, safe="")
    forms = {value, once, quote(once, safe=""), quote(value), once.lower(), value.lower(), value.upper()}
    return forms


def leaks(text: str) -> list[str]:
    return [form for value in SECRETS.values() for form in encodings(value) if form in text]


@pytest.fixture
def secrets(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return {"format": "json", "api_key": SECRETS["NCBI_API_KEY"], "email": SECRETS["KB_CONTACT_EMAIL"]}


def redirect_with_the_query_inside(server, target: str) -> None:
    """PATH redirects to `target?next=<the original URL, its query with the key and the address, percent-encoded>`."""
    original = (f"{server.url}{PATH}?format=json&api_key={SECRETS['NCBI_API_KEY']}"
                f"&email={quote(SECRETS['KB_CONTACT_EMAIL'])}&appid={SECRETS['CINII_APPID']}")
    server.route(PATH, Reply(302, b"", {"Location": f"{target}?next={quote(original, safe='')}"}))


def test_secrets_inside_a_redirect_never_reach_an_error_message(server, secrets):
    redirect_with_the_query_inside(server, "/ctgov/login")
    server.route("/ctgov/login", Reply(403, b"sign in first"))
    with pytest.raises(UpstreamError, match=r"HTTP 403 from .*/ctgov/login\?next=") as error:
        http.get(ctgov.SOURCE, "NCT00791778", "/studies/NCT00791778", params=secrets)
    assert leaks(str(error.value)) == [], str(error.value)
    assert "(hidden)" in str(error.value)


def test_secrets_inside_a_redirect_or_an_echoing_body_never_reach_the_kb(tmp_path, server, secrets):
    """The registry record is reached through the redirect and its body echoes the request (as CiNii's `@id` does):
    `snapshots.url` and `snapshots.body` keep neither the key, nor the address, nor the appid."""
    redirect_with_the_query_inside(server, "/ctgov/moved")
    study = json.loads(STUDY)
    study["@id"] = (f"https://example.org/echo?api_key={SECRETS['NCBI_API_KEY']}&mailto="
                    f"{quote(SECRETS['KB_CONTACT_EMAIL'], safe='')}&appid={SECRETS['CINII_APPID']}")
    server.route("/ctgov/moved", Reply(200, json.dumps(study).encode()))
    db = open_db(str(tmp_path / "kb.db"))
    summary = pipeline.build(db, ["NCT00791778"], [], [])
    assert summary.failed == [] and db["trials"].count == 1
    snapshot = next(db["snapshots"].rows)
    assert "/ctgov/moved?next=" in snapshot["url"] and "(hidden)" in snapshot["url"]
    assert leaks("\n".join(db_dump(tmp_path / "kb.db"))) == []


def test_redact_hides_each_secret_value_in_any_encoding_and_leaves_short_values_alone(secrets, monkeypatch):
    text = ("k SECRETKEY123 secretkey123 SECRETKEY%31%323 %2553ECRETKEY123 curator%40example.org "
            "curator%2540example.org appid%2Dsecret%2d42")
    assert http.redact(text) == "k " + " ".join(["(hidden)"] * 7)
    monkeypatch.setenv("NCBI_API_KEY", "k")
    assert http.redact("keep kb") == "keep kb"


# --- 14: fail fast offline ----------------------------------------------------------------------------------------


@pytest.fixture
def unresolvable(monkeypatch):
    """Name resolution fails for *.invalid at once (as it does offline), before any connection; returns the list
    of names asked."""
    asked, real = [], socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        asked.append(host)
        if str(host).endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for name in ("KB_RETRIES", "KB_BACKOFF", "KB_READ_TIMEOUT", "KB_MAX_RETRY_AFTER"):
        monkeypatch.delenv(name, raising=False)
    return asked


def test_a_name_that_does_not_resolve_fails_at_once_without_retries(unresolvable, monkeypatch):
    monkeypatch.setenv("KB_BACKOFF", "0.2")  # before this fix: 6 tries over 6 s
    monkeypatch.setenv("KB_CTGOV_URL", "http://trial-kb.invalid/api")
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=r"^ClinicalTrials.gov NCT00791778: upstream failure: cannot resolve "
                                            r"trial-kb.invalid \(no network, or no such name\); not retried$"):
        ctgov.fetch_study("NCT00791778")
    assert time.monotonic() - started < 1 and unresolvable == ["trial-kb.invalid"]


def test_a_refused_connection_fails_at_once_without_retries(unresolvable, monkeypatch):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    monkeypatch.setenv("KB_BACKOFF", "0.2")
    monkeypatch.setenv("KB_CTGOV_URL", f"http://127.0.0.1:{port}/api")
    started = time.monotonic()
    with pytest.raises(UpstreamError, match=rf"connection to 127.0.0.1:{port} refused; not retried$"):
        ctgov.fetch_study("NCT00791778")
    assert time.monotonic() - started < 1 and unresolvable.count("127.0.0.1") == 1


def test_5xx_and_timeouts_are_still_retried(server, monkeypatch):
    monkeypatch.setenv("KB_RETRIES", "2")
    server.route(PATH, Reply(200, STUDY, delay=1.5), Reply(502, b"bad gateway"), Reply(200, STUDY))
    assert ctgov.fetch_study("NCT00791778").body == STUDY and server.count(PATH) == 3


def test_kb_build_without_network_fails_within_seconds(tmp_path, unresolvable, monkeypatch):
    """Every source on a name that does not resolve, default retries and backoff: the build fails in seconds (it
    took about 122 s of silence before), one line per record, each saying why."""
    for source in sources.ALL:
        monkeypatch.setenv(source.env, f"http://trial-kb.invalid/{source.env.lower()}")
    started = time.monotonic()
    result = CliRunner().invoke(cli.cli, ["build", "--db", str(tmp_path / "kb.db")])
    took = time.monotonic() - started
    assert result.exit_code == 1 and took < 10, (took, result.output)
    assert "NCT02193698: upstream failure: cannot resolve trial-kb.invalid" in result.stderr
    assert "PMID 32009091: upstream failure: no source gave it" in result.stderr
    assert len(unresolvable) <= len(sources.ALL)  # at most one try per source


def test_run_sh_says_in_one_line_that_it_falls_back_to_the_offline_build(tmp_path):
    """run.sh against a stand-in `kb` whose live build fails as it does offline: between that build and the offline
    one, run.sh prints exactly one line, saying why and what it does instead."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "run.sh", tmp_path / "scripts" / "run.sh")
    (tmp_path / "scripts" / "setup.sh").write_text('cd "$(dirname "${BASH_SOURCE[0]}")/.."\n')
    kb = tmp_path / ".venv" / "bin" / "kb"
    kb.parent.mkdir(parents=True)
    reason = ("kb: ClinicalTrials.gov NCT02193698: upstream failure: cannot resolve clinicaltrials.gov (no network, "
              "or no such name); not retried")
    kb.write_text(f"""#!/usr/bin/env bash
case "$*" in
  build) echo "{reason}" >&2
         echo "0 checks in the KB"
         echo "kb: 2 of 2 records failed; the KB keeps what it had." >&2
         exit 1;;
  "build --offline") echo "OFFLINE BUILD";;
  serve*) echo "SERVING";;
esac
""")
    kb.chmod(0o755)
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "run.sh")], capture_output=True, text=True,
                          timeout=30, env={**os.environ})
    lines = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 0 and "OFFLINE BUILD" in lines and "SERVING" in lines
    before = [line for line in done.stderr.splitlines() if line]
    assert len(before) == 1, before
    assert "cannot resolve clinicaltrials.gov" in before[0] and "kb build --offline" in before[0]
    assert done.stdout.splitlines()[:1] == ["OFFLINE BUILD"]
