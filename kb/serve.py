"""What `kb serve` runs: the KB in Datasette with trial-kb's metadata (table and column docs, canned queries, charts).

Read-only: the KB is opened with `mode=ro` (`kb.store.access.read_only_uri`), never switched to WAL nor migrated,
so a KB in a folder or file `kb serve` may not write is served too; a KB that needs an upgrade is refused with the
command that upgrades it (`inspect`), and no plugin that writes is installed. The file is deliberately not opened
as immutable (`--immutable`): Datasette would then read it as a frozen snapshot, and a `kb refresh` writing in WAL
mode would only show after a restart. Served mutable, each request sees the last committed state.
The database is always named `kb` in URLs (/kb/trials), whatever the file is called, because metadata.yml and its
canned queries are written for that name.

Bounded, so that no query can exhaust the server: one value (string or blob) is at most MAX_VALUE bytes (SQLite's
length limit on every connection); the values one query returns at most MAX_ROWS (counted as its rows are fetched);
SQLite's memory in the `kb serve` process at most MAX_SQLITE_HEAP; one response at most MAX_RESPONSE bytes (an ASGI
middleware). Past a limit the request ends with an error that says which, and the next request is served.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import sqlite3
from contextlib import closing
from itertools import islice
from pathlib import Path
from types import ModuleType

import sqlite_utils
import uvicorn
from datasette.app import Datasette
from datasette.database import Database
from datasette.utils import parse_metadata

from kb import links, pages, table_view
from kb.pages import DATABASE
from kb.store.access import Unusable, read_only_uri, refuse_empty, remove_empty_wal
from kb.store.schema import TABLES, pending_upgrade

METADATA = Path(__file__).parent.parent / "metadata.yml"
TEMPLATES = Path(__file__).parent / "templates"  # Datasette templates of its own: home page, row page, 404 of a trial
STATIC = Path(__file__).parent / "static"  # served at /kb-static/
SQL_TIME_LIMIT_MS = 3000
MiB = 1 << 20
MAX_VALUE, MAX_ROWS, MAX_RESPONSE, MAX_SQLITE_HEAP = 64 * MiB, 128 * MiB, 256 * MiB, 512 * MiB
EXIT_LISTEN = 5


def mib(size: int) -> str:
    return f"{size / MiB:g} MiB"


class CannotListen(Exception):
    """`kb serve` cannot listen where it was asked to; the message says what to choose instead."""


def _explained(exc: BaseException) -> BaseException:
    """A limit's error in words a user of the SQL page understands (other errors are left as they are: Datasette
    tells a query stopped by its time limit by the message 'interrupted')."""
    if isinstance(exc, MemoryError):
        return sqlite3.OperationalError(f"this query needs more memory than kb serve gives SQLite "
                                        f"({mib(MAX_SQLITE_HEAP)}): ask for fewer or smaller values")
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_TOOBIG:
        return sqlite3.DataError(f"a value would be longer than {mib(MAX_VALUE)}, the most kb serve returns "
                                 "(string or blob too big): ask for a part of it, e.g. substr(body, 1, 1000000), "
                                 "or read the KB file with sqlite3")
    return exc


class BoundedCursor(sqlite3.Cursor):
    """A cursor that stops a query once the values of its rows pass MAX_ROWS (characters of text, bytes of blobs,
    8 for a number), counted as each row is fetched."""

    returned = 0

    def execute(self, sql, parameters=()):
        self.returned = 0
        try:
            return super().execute(sql, parameters)
        except (sqlite3.Error, MemoryError) as exc:
            if (explained := _explained(exc)) is exc:
                raise
            raise explained from exc

    def __next__(self):
        try:
            row = super().__next__()
        except (sqlite3.Error, MemoryError) as exc:
            if (explained := _explained(exc)) is exc:
                raise
            raise explained from exc
        self.returned += sum(len(value) if isinstance(value, (str, bytes)) else 8 for value in row)
        if self.returned > MAX_ROWS:
            raise sqlite3.OperationalError(f"the rows of this query pass {mib(MAX_ROWS)}, the most kb serve "
                                           "returns for one query: ask for fewer rows or columns, or read the KB "
                                           "file with sqlite3")
        return row

    def fetchone(self):
        return next(self, None)

    def fetchmany(self, size=None):
        return list(islice(self, self.arraysize if size is None else size))

    def fetchall(self):
        return list(self)


class BoundedConnection(sqlite3.Connection):
    """A connection whose cursors, and `execute`, are BoundedCursors."""

    def cursor(self, factory=None):
        return super().cursor(factory or BoundedCursor)

    def execute(self, sql, parameters=()):
        return self.cursor().execute(sql, parameters)


class ServedDatabase(Database):
    """The KB as Datasette reads it: read-only (`read_only_uri`), every value at most MAX_VALUE bytes."""

    def __init__(self, datasette: Datasette, path: str | Path):
        super().__init__(datasette, path=str(path), is_mutable=True)
        self.uri = read_only_uri(path)

    def connect(self, write=False):
        if write:
            raise sqlite3.OperationalError("kb serve only reads the KB")
        conn = sqlite3.connect(self.uri, uri=True, check_same_thread=False, factory=BoundedConnection)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE)
        self._all_file_connections.append(conn)
        return conn


class _TooLarge(BaseException):  # not an Exception: Datasette would log it as an error of its own
    pass


class ResponseCap:
    """ASGI middleware: a response stops at `limit` bytes of body. When nothing was sent yet (a response sent in
    one piece), an error response (400) says so instead; when part of a streamed response (CSV with _stream=on)
    is out, the body ends with the same notice and the connection is closed before the response is complete, so
    that no client takes the part for the whole. The application is stopped at its next write either way."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held, sent, stopped = [], 0, False
        notice = (f"kb serve: the response passed {mib(self.limit)}, the most it sends: ask for fewer rows "
                  "or columns, or read the KB file with sqlite3")

        async def capped(message):
            nonlocal sent, stopped
            if stopped:
                raise _TooLarge
            if message["type"] == "http.response.start":
                held.append(message)
                return
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                if sent > self.limit:
                    stopped = True
                    if held:
                        await _error(send, scope, notice)
                    else:
                        await send({"type": "http.response.body", "body": f"\n{notice}\n".encode(),
                                    "more_body": True})
                    raise _TooLarge
            if held:
                await send(held.pop())
            await send(message)

        try:
            await self.app(scope, receive, capped)
        except _TooLarge:
            pass


async def _error(send, scope, notice: str) -> None:
    if scope["path"].endswith(".json"):
        body, kind = json.dumps({"ok": False, "error": notice, "status": 400, "title": None}), b"application/json"
    else:
        body, kind = notice + "\n", b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 400, "headers": [[b"content-type", kind]]})
    await send({"type": "http.response.body", "body": body.encode()})


class ServedDatasette(Datasette):
    """Datasette whose application (as uvicorn and the test client `.client` run it) caps every response."""

    def app(self):
        return ResponseCap(super().app(), MAX_RESPONSE)


def datasette_for(db_path: str | Path) -> Datasette:
    """The Datasette instance `kb serve` runs for the KB at `db_path` (tests use it through `.client`)."""
    _without_markdown_cells()
    _with_links()
    datasette = ServedDatasette(metadata=parse_metadata(METADATA.read_text()), template_dir=str(TEMPLATES),
                                static_mounts=[("kb-static", str(STATIC))],
                                settings={"sql_time_limit_ms": SQL_TIME_LIMIT_MS, "suggest_facets": False})
    datasette.remove_database("_memory")
    datasette.add_database(ServedDatabase(datasette, db_path), name=DATABASE)
    return datasette


def _without_markdown_cells() -> None:
    """Keep datasette-render-markdown (installed with datasette-dashboards) for the dashboards' Markdown panels, but
    not its `render_cell` hook: it looks up its settings for every cell of every page to find Markdown columns, of
    which the KB has none, and that took more than half of the time to render 1,000 rows."""
    import datasette_render_markdown as markdown
    from datasette.plugins import pm

    if pm.is_registered(markdown):
        templates = ModuleType("datasette_render_markdown_templates")
        templates.extra_template_vars = markdown.extra_template_vars
        templates.prepare_jinja2_environment = markdown.prepare_jinja2_environment
        pm.unregister(markdown)
        pm.register(templates)


def inspect(db_path: str) -> list[str]:
    """Whether the KB at `db_path` can be served as it is, found by reading it: Unusable when it cannot (an empty
    file, a database that is not a KB, a KB that needs an upgrade: the message gives the command that upgrades it);
    otherwise the lines to print about what only makes its pages slower (indexes set aside by a bulk load)."""
    refuse_empty(db_path)
    try:
        with closing(sqlite3.connect(read_only_uri(db_path), uri=True)) as conn:
            needed, slower = pending_upgrade(sqlite_utils.Database(conn))
    finally:
        remove_empty_wal(db_path)
    if sum(need.startswith("table ") for need in needed) == len(TABLES):
        raise Unusable(f"{db_path} is a SQLite database but not a knowledge base (it has none of the KB's tables): "
                       "give the file that `kb build` or `kb import` made")
    if needed:
        raise Unusable(f"{db_path} needs an upgrade to this version of trial-kb ({', '.join(needed[:3])}"
                       f"{', ...' if len(needed) > 3 else ''}), which `kb serve` does not do since it only reads: "
                       f"run `kb check --db {db_path}` (or any command that writes to the KB), then serve it")
    if not slower:
        return []
    return [f"{db_path} lacks {', '.join(slower[:3])}{', ...' if len(slower) > 3 else ''} (an interrupted bulk "
            f"load?): pages may be slow and search incomplete; `kb check --db {db_path}` rebuilds them"]


def _with_links() -> None:
    """Register kb.links (links between rows and out, readable JSON cells), kb.pages (the templates' filters, the page
    of a trial without registry record) and kb.table_view (full-text tables as printed), once per process."""
    from datasette.plugins import pm

    for plugin in (links, pages, table_view):
        if not pm.is_registered(plugin):
            pm.register(plugin, name=plugin.__name__)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (port 0: a free one); CannotListen says what to choose instead."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except socket.gaierror:
        raise CannotListen(f"{host} is not an address of this machine: choose another with --host") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            message = f"port {port} on {host} is in use: choose another with --port"
        elif exc.errno == errno.EACCES:
            message = f"may not listen on port {port} on {host} (below 1024 needs privileges): choose another " \
                      "with --port"
        elif exc.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is not an address of this machine: choose another with --host"
        else:
            message = f"cannot listen on port {port} on {host} ({exc.strerror}): choose another --host or --port"
        raise CannotListen(message) from None


def bound_sqlite_memory(limit: int = MAX_SQLITE_HEAP) -> None:
    """Cap the memory SQLite may take in this process, all connections together (PRAGMA hard_heap_limit; past it a
    query fails with an error): what the other limits cannot bound, one row of many large values, is bounded here.
    For the whole process, so `run` sets it, not `datasette_for` (tests run everything else in their process)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.execute(f"PRAGMA hard_heap_limit = {int(limit)}")


def run(db_path: str, listener: socket.socket) -> None:
    """Serve the KB at `db_path` on `listener` until SIGTERM or SIGINT (Ctrl-C), then close its connections so that
    no -wal or -shm file is left beside it, and return (exit 0)."""
    datasette = datasette_for(db_path)
    bound_sqlite_memory()
    config = uvicorn.Config(datasette.app(), lifespan="on", log_level="warning")
    # uvicorn shuts down gracefully on these signals, then raises the signal again for the handler it found: this
    # one, which lets `run` finish rather than the process die with its files open.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        datasette.get_database(DATABASE).close()
        remove_empty_wal(db_path)
