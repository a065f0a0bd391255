"""The one loopback HTTP server of the tests and benchmarks: it answers on 127.0.0.1 only, records every request,
and asks `answer(path, query)` for a `Reply` (scripted in `ReplayServer`, computed by a benchmark's stand-in)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One answer: status, body, headers; `delay` seconds before answering; `truncate` sends half the body under
    the full Content-Length; `reset` closes the connection without answering."""

    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0
    truncate: bool = False
    reset: bool = False


class LoopbackServer:
    """A threaded HTTP server on a free loopback port; `url` is its address, `requests` what it was asked."""

    def __init__(self, answer: Callable[[str, dict], Reply]):
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                server.requests.append((parts.path, query))
                reply = answer(parts.path, query)
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

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ReplayServer(LoopbackServer):
    """Answers each path from a script of Replies (the last one repeats); 404 for a path without one."""

    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        super().__init__(self._next_reply)

    def _next_reply(self, path: str, query: dict) -> Reply:
        script = self.routes.get(path) or [Reply(404, b'{"error":"not found"}')]
        return script.pop(0) if len(script) > 1 else script[0]

    def route(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)
