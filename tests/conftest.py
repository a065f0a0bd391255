"""Shared test fixtures: recorded responses, a loopback replay server, database dumps.

The network is blocked for every test by pytest-socket (`--allow-hosts` in pyproject.toml): only loopback works.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from harvest import sources

FIXTURES = Path(__file__).parent / "fixtures"
# The responses shipped for `kb build --offline`; the seed article's four are RECONSTRUCTED from its published page
# (kb/data/offline/PROVENANCE.md). Tests read them there: the offline data exists once.
OFFLINE = Path(__file__).parent.parent / "kb" / "data" / "offline"
SEED_FILES = tuple(OFFLINE / name for name in (
    "pubmed_efetch_pmid32009091_reconstructed.xml", "crossref_works_10.2169_internalmedicine.3800-19_reconstructed.json",
    "jstage_article_internalmedicine.3800-19_reconstructed.html", "europepmc_search_core_pmid32009091_reconstructed.json"))


def fixture_path(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def fixture_bytes(*parts: str) -> bytes:
    return fixture_path(*parts).read_bytes()


def offline_bytes(name: str) -> bytes:
    return (OFFLINE / name).read_bytes()


def db_dump(path: Path) -> list[str] | None:
    """Every statement that recreates the database at `path` (None if there is no file): compares whole states."""
    if not Path(path).exists():
        return None
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@dataclass
class Reply:
    """One scripted answer: status, body, headers; `delay` seconds before answering; `truncate` sends half the
    body under the full Content-Length; `reset` closes the connection without answering."""

    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0
    truncate: bool = False
    reset: bool = False


class ReplayServer:
    """A loopback HTTP server answering each path from a script of Replies (the last one repeats)."""

    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                server.requests.append((parts.path, parse_qs(parts.query)))
                script = server.routes.get(parts.path) or [Reply(404, b'{"error":"not found"}')]
                reply = script.pop(0) if len(script) > 1 else script[0]
                time.sleep(reply.delay)
                if reply.reset:
                    self.connection.shutdown(2)
                    return
                self.send_response(reply.status)
                for name, value in {"Content-Type": "application/json", **reply.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body[: len(reply.body) // 2] if reply.truncate else reply.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    """A replay server that every source's base URL points at, with fast retries and short timeouts."""
    replay = ReplayServer()
    for source in sources.ALL:
        var = source.env
        monkeypatch.setenv(var, replay.url + "/" + var.removeprefix("KB_").removesuffix("_URL").lower())
        monkeypatch.setenv(var.removesuffix("_URL") + "_RATE", "1000")
    monkeypatch.setenv("KB_BACKOFF", "0")
    monkeypatch.setenv("KB_READ_TIMEOUT", "1")
    monkeypatch.setenv("KB_MAX_RETRY_AFTER", "1")
    yield replay
    replay.close()
