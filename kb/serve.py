"""What `kb serve` runs: the KB in Datasette with trial-kb's metadata (table and column docs, canned queries, charts).

Read-only: Datasette opens the file with `mode=ro`, and no plugin that writes is installed. The file is deliberately
not opened as immutable (`--immutable`): Datasette would then read it as a frozen snapshot, and a `kb refresh`
writing in WAL mode would only show after a restart. Served mutable, each request sees the last committed state.
The database is always named `kb` in URLs (/kb/trials), whatever the file is called, because metadata.yml and its
canned queries are written for that name.
"""

from __future__ import annotations

import socket
from pathlib import Path
from types import ModuleType

import uvicorn
from datasette.app import Datasette
from datasette.database import Database
from datasette.utils import parse_metadata

from kb import links
from kb.store.schema import open_db

METADATA = Path(__file__).parent.parent / "metadata.yml"
DATABASE = "kb"
SQL_TIME_LIMIT_MS = 3000


def datasette_for(db_path: str | Path) -> Datasette:
    """The Datasette instance `kb serve` runs for the KB at `db_path` (tests use it through `.client`)."""
    _without_markdown_cells()
    _with_links()
    datasette = Datasette(metadata=parse_metadata(METADATA.read_text()),
                          settings={"sql_time_limit_ms": SQL_TIME_LIMIT_MS, "suggest_facets": False})
    datasette.remove_database("_memory")
    datasette.add_database(Database(datasette, path=str(db_path), is_mutable=True), name=DATABASE)
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


def _with_links() -> None:
    """Register kb.links (links between rows and out, readable JSON cells: see there), once per process."""
    from datasette.plugins import pm

    if not pm.is_registered(links):
        pm.register(links, name=links.__name__)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` (port 0: a free one)."""
    return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)


def run(db_path: str, listener: socket.socket) -> None:
    """Serve the KB at `db_path` on `listener` until interrupted."""
    open_db(db_path).close()  # WAL mode and any pending migration, before Datasette opens the file read-only
    config = uvicorn.Config(datasette_for(db_path).app(), lifespan="on", log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
