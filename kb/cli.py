"""The `kb` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from harvest import ctgov
from harvest.errors import BadIdentifier, HarvestError

from . import ingest
from .importer import import_studies
from .refresh import refresh
from .schema import open_db

DEFAULT_NCT = "NCT02193698"
OFFLINE_DIR = Path(__file__).parent / "data" / "offline"
METADATA = Path(__file__).parent.parent / "metadata.yml"
db_option = click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(dir_okay=False),
                         help="SQLite file of the knowledge base.")


def fail(message: str, code: int = 1):
    click.echo(f"kb: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="trial-kb")
def cli():
    """trial-kb: what a clinical trial registered, what its article published, and whether the numbers hold up.

    Example: kb build && kb serve
    """


@cli.command()
@click.option("--nct", "ncts", multiple=True, metavar="NCT_ID", help="ClinicalTrials.gov ID (repeatable).")
@click.option("--offline", is_flag=True, help="Build from the recorded responses shipped with trial-kb, no network.")
@db_option
def build(ncts, offline, db_path):
    """Harvest registry records into the KB (default target: NCT02193698).

    Example: kb build --nct NCT00791778 --db kb.db
    """
    if offline:
        return _import([OFFLINE_DIR], db_path, f"offline build from the recorded responses in {OFFLINE_DIR}")
    try:
        ncts = [ctgov.normalize_nct(n) for n in ncts or [DEFAULT_NCT]]
    except BadIdentifier as exc:
        fail(str(exc), 2)
    db = open_db(db_path)
    failures = []
    for nct in ncts:
        try:
            fetched = ctgov.fetch_study(nct)
            stored = ingest.save_studies(db, [ingest.study_document(fetched)])
            click.echo(f"{nct}: {'stored' if stored else 'unchanged'} ({fetched.url})")
        except HarvestError as exc:
            failures.append(str(exc))
            click.echo(f"kb: {exc}", err=True)
    if failures:
        fail(f"{len(failures)} of {len(ncts)} records failed; the KB keeps what it had. "
             "Without network, `kb build --offline` builds from recorded responses.")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
def import_(paths, db_path):
    """Load saved responses (study JSON, the registry's JSON array or ZIP download) without network.

    Example: kb import ctg-studies.json.zip --db kb.db
    """
    _import(list(paths), db_path, f"import of {len(paths)} path(s)")


def _import(paths: list[Path], db_path: str, what: str):
    db = open_db(db_path)
    total = sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
        summary = import_studies(db, paths, progress=bar.update)
    for message in summary.failed:
        click.echo(f"kb: {message}", err=True)
    click.echo(f"{what}: {summary.read} studies read, {summary.stored} stored, {summary.unchanged} unchanged, "
               f"{len(summary.failed)} failed.")
    if summary.failed:
        sys.exit(1)


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on (0 picks a free one).")
def serve(db_path, host, port):
    """Serve the KB in Datasette with its metadata, read-only, with a SQL time limit.

    Example: kb serve --db kb.db --port 8001
    """
    if not Path(db_path).exists():
        fail(f"no knowledge base at {db_path}: run `kb build` first", 2)
    open_db(db_path).close()
    click.echo(f"Serving {db_path} at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    command = [sys.executable, "-m", "datasette", "serve", db_path, "--host", host, "--port", str(port),
               "--metadata", str(METADATA), "--setting", "sql_time_limit_ms", "3000",
               "--setting", "default_allow_sql", "on"]
    os.execv(sys.executable, command)


cli.add_command(refresh)
