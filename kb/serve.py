"""`kb serve`: the KB in Datasette with trial-kb's metadata (table and column docs, canned queries, charts).

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

import click
import uvicorn
from datasette.app import Datasette
from datasette.database import Database
from datasette.utils import parse_metadata

from .schema import open_db

METADATA = Path(__file__).parent.parent / "metadata.yml"
DATABASE = "kb"
SQL_TIME_LIMIT_MS = 3000


def datasette_for(db_path: str | Path) -> Datasette:
    """The Datasette instance `kb serve` runs for the KB at `db_path` (tests use it through `.client`)."""
    _without_markdown_cells()
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


def _existing_kb(ctx, param, value: str) -> str:
    if not Path(value).is_file():
        raise click.BadParameter(f"no knowledge base at {value}: run `kb build` first")
    return value


@click.command()
@click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(dir_okay=False),
              callback=_existing_kb, help="SQLite file of the knowledge base.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 or :: opens the KB to the network).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
def serve(db_path, host, port):
    """Browse the KB in Datasette (documented tables, canned queries, charts), read-only; prints the URL.

    SQL queries stop after 3 s. Example: kb serve --db kb.db --port 8001
    """
    open_db(db_path).close()  # WAL mode and any pending migration, before Datasette opens the file read-only
    listener = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {db_path} at http://{shown_host}:{listener.getsockname()[1]}/ (Ctrl-C stops)")
    config = uvicorn.Config(datasette_for(db_path).app(), lifespan="on", log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])
