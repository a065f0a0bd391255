"""The one loopback HTTP server of the tests and benchmarks: it answers on 127.0.0.1 only, records every request,
and asks `answer(path, query)` for a `Reply` (scripted in `ReplayServer`, computed by `RegistryStandIn`)."""

from __future__ import annotations

import json
import re
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
        reply = script.pop(0) if len(script) > 1 else script[0]
        return reply if isinstance(reply, Reply) else reply(path, query)

    def route(self, path: str, *replies: Reply | Callable[[str, dict], Reply]) -> None:
        """Answer `path` with these replies in turn (the last repeats); a callable computes its reply."""
        self.routes[path] = list(replies)


def nct_of(body: bytes) -> str:
    return json.loads(body)["protocolSection"]["identificationModule"]["nctId"]


class RegistryStandIn:
    """A stand-in for ClinicalTrials.gov API v2 over the study bodies it is given, for `route` or `LoopbackServer`.
    Its search pages are NOT recorded responses: they are built from those bodies the way the API pages them
    (pageSize 10 by default, at most 1,000, else HTTP 400; `nextPageToken` until the last page; `totalCount` with
    countTotal=true), each study's bytes as given. A search selects by `filter.ids`, by
    `filter.advanced=AREA[LastUpdatePostDate]RANGE[date,MAX]`, by `query.cond` (in a condition) and `query.term`
    (in the record), case-insensitive; with `fields` a study is nctId and lastUpdatePostDateStruct only, as the
    change list's `fields=NCTId,LastUpdatePostDate` returns it (the studies in `listed`, default the bodies).
    GET {prefix}/studies/{nct} answers the body, else 404."""

    def __init__(self, bodies, listed=None, prefix: str = "/ctgov", index: dict | None = None):
        """`bodies`: NCT ID -> study bytes (a mapping, or a list of bodies); `index`: NCT ID -> (last update posted,
        conditions), computed from the bodies when not given (a benchmark of 100,000 studies gives it)."""
        self.bodies = bodies if hasattr(bodies, "keys") else {nct_of(body): body for body in bodies}
        self.listed = self.bodies if listed is None else {nct_of(body): body for body in listed}
        self.index = index or {nct: _index_entry(body) for nct, body in {**self.bodies, **self.listed}.items()}
        self.prefix = prefix

    def __call__(self, path: str, query: dict) -> Reply:
        if path != f"{self.prefix}/studies":
            found = self.bodies.get(path.rsplit("/", 1)[-1])
            return Reply(200, found) if found else Reply(404, b'{"error": "not found"}')
        size = int(query.get("pageSize", ["10"])[0])
        if not 1 <= size <= 1000:
            return Reply(400, b"pageSize must be 1 to 1000")
        source = self.listed if "fields" in query else self.bodies
        chosen = self.select(source, query)
        start = int(query.get("pageToken", ["0"])[0])
        page = [json.dumps({"protocolSection": {"identificationModule": {"nctId": nct}, "statusModule": {
                    "lastUpdatePostDateStruct": {"date": self.index[nct][0]}}}}).encode() if "fields" in query
                else source[nct] for nct in chosen[start:start + size]]
        head = f'{{"totalCount":{len(chosen)},' if query.get("countTotal") == ["true"] else "{"
        token = f',"nextPageToken":"{start + size}"' if start + size < len(chosen) else ""
        return Reply(200, head.encode() + b'"studies":[' + b",".join(page) + b"]" + token.encode() + b"}")

    def select(self, source, query: dict) -> list[str]:
        """The NCT IDs a search selects, in the stand-in's order."""
        ids = query["filter.ids"][0].split(",") if "filter.ids" in query else source.keys()
        since = re.search(r"RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]", query.get("filter.advanced", [""])[0])
        cond, term = (query[name][0].lower() if name in query else None for name in ("query.cond", "query.term"))
        return [nct for nct in dict.fromkeys(ids) if nct in source
                and not (since and self.index[nct][0] < since[1])
                and not (cond and cond not in self.index[nct][1])
                and not (term and term not in source[nct].decode().lower())]


def _index_entry(body: bytes) -> tuple[str, str]:
    protocol = json.loads(body)["protocolSection"]
    return (protocol["statusModule"]["lastUpdatePostDateStruct"]["date"],
            " | ".join(protocol.get("conditionsModule", {}).get("conditions", [])).lower())

