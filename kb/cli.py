"""The `kb` command line: build, import, check, extract, refresh, serve. Click and printing only: the work is done in
`kb.pipeline` (and `kb.derive`, `kb.extract`, `kb.checks`, `kb.serve`), which report through events printed here.

Modules that are slow to import (scipy for the checks, Datasette for serving) are imported by the commands that use
them, so that `kb --help` and a scheduled `kb refresh` with nothing to do start in well under a second.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from harvest import VERSION
from harvest.errors import BadIdentifier
from harvest.identifiers import normalize_doi, normalize_nct, normalize_pmid
from kb import pipeline
from kb.store.access import EXIT_UNUSABLE, fault
from kb.store.schema import open_db

OFFLINE_DIR = Path(__file__).parent / "data" / "offline"
EXIT_FAILED, EXIT_USAGE = 1, 2


def fail(message: str, code: int = EXIT_FAILED):
    """Print one line on stderr and exit with `code`."""
    click.echo(f"kb: {message}", err=True)
    sys.exit(code)


def echo(event: pipeline.Event) -> None:
    """Print a pipeline event: failures on stderr, prefixed `kb:`."""
    click.echo(f"kb: {event.text}" if event.error else event.text, err=event.error)


def read_text(text: str) -> str:
    """The TEXT argument, or standard input when it is '-'."""
    return sys.stdin.read() if text == "-" else text


def _db_path(ctx: click.Context, param, value: str | None) -> str | None:
    """`--db` given after the subcommand wins; before it (`kb --db X check`) it is kept for the subcommand."""
    if ctx.parent is None:
        ctx.ensure_object(dict)["db"] = value
        return value
    return value or (ctx.find_root().obj or {}).get("db") or "kb.db"


db_option = click.option("--db", "db_path", callback=_db_path, metavar="FILE", type=click.Path(dir_okay=False),
                         help="SQLite file of the knowledge base (default kb.db); before or after the command.")


def uses_kb(command):
    """A command that opens the KB: a fault of its file (not a database, damaged, empty, read-only, disk full,
    locked) is one line naming the file and what to do, and exit 4 (EXIT_UNUSABLE)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            if (message := fault(exc, kwargs["db_path"])) is None:
                raise
            fail(message, EXIT_UNUSABLE)

    return wrapper


def existing_db(db_path: str):
    """The KB at `db_path`, or exit 2 saying how to make one."""
    if not Path(db_path).is_file():
        fail(f"no knowledge base at {db_path}: run `kb build` or `kb import` first", EXIT_USAGE)
    return open_db(db_path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION, prog_name="trial-kb")
@db_option
def cli(db_path):
    """trial-kb: what a clinical trial registered, what its article published, and whether the numbers hold up.

    Example: kb build && kb serve
    """


@cli.command()
@click.option("--nct", "ncts", multiple=True, metavar="NCT_ID", help="ClinicalTrials.gov ID (repeatable).")
@click.option("--pmid", "pmids", multiple=True, metavar="PMID", help="PubMed ID of an article (repeatable).")
@click.option("--doi", "dois", multiple=True, metavar="DOI", help="DOI of an article (repeatable).")
@click.option("--offline", is_flag=True, help="Build from the recorded responses shipped with trial-kb, no network.")
@click.option("--condition", metavar="TEXT", help="A disease area: every study of this condition (the registry's "
              "query.cond), then the PubMed articles they reference; run it again to continue after an interruption.")
@click.option("--query", "term", metavar="TEXT", help="Like --condition, for the registry's full-text search "
              "(query.term); with --condition, studies matching both.")
@db_option
@uses_kb
def build(ncts, pmids, dois, offline, condition, term, db_path):
    """Harvest registry records and articles, then extract and check (default: NCT02193698 and PMID 32009091).

    Example: kb build --nct NCT01245062 --pmid 22663011 --db kb.db

    Example: kb build --condition "POEMS syndrome" --db poems.db
    """
    if (condition or term) and (ncts or pmids or dois or offline):
        fail("--condition and --query build a disease area from a registry search; give --nct, --pmid, --doi or "
             "--offline in another run", EXIT_USAGE)
    if condition is not None or term is not None:
        return _area(db_path, {"query_cond": condition, "query_term": term})
    if offline and (ncts or pmids or dois):
        fail("--offline builds the responses shipped with trial-kb only (NCT02653482 with PMID 31524498, NCT00791778 "
             "and PMID 32009091); --nct, --pmid and --doi need the network, or `kb import` of responses you saved",
             EXIT_USAGE)
    if offline:
        files = sorted(p for p in OFFLINE_DIR.iterdir() if p.suffix != ".md")
        click.echo(f"Offline build from the responses shipped in {OFFLINE_DIR} ({', '.join(p.name for p in files)}); "
                   f"see PROVENANCE.md there: the seed article's responses are reconstructed from its published page, "
                   f"{pipeline.DEFAULT_NCT} has no recorded registry response; NCT02653482 (DEFINE-HF) and its "
                   "results article PMID 31524498 are a real recorded registry-publication pair, and NCT00791778 a "
                   "real recorded study with results.")
        return _import(files, db_path)
    if not (ncts or pmids or dois):
        ncts, pmids, dois = [pipeline.DEFAULT_NCT], [pipeline.DEFAULT_PMID], [pipeline.DEFAULT_DOI]
    try:
        ncts = [normalize_nct(n) for n in ncts]
        pmids, dois = [normalize_pmid(p) for p in pmids], [normalize_doi(d) for d in dois]
    except BadIdentifier as exc:
        fail(str(exc), EXIT_USAGE)
    db = open_db(db_path)
    summary = pipeline.build(db, ncts, pmids, dois, echo)
    checks_line(db)
    if summary.failed:
        fail(f"{len(summary.failed)} of {summary.records} records failed; the KB keeps what it had. "
             "Without network, `kb build --offline` builds from recorded responses.")


def _area(db_path: str, query: dict[str, str | None]):
    """`kb build --condition/--query`: the search's studies and their articles, with a progress bar for each."""
    from kb import area

    query = {name: value.strip() for name, value in query.items() if value is not None}
    if not all(query.values()):
        fail("--condition and --query need a non-empty TEXT", EXIT_USAGE)
    db, bars = open_db(db_path), {}

    def progress(what: str, done: int, total: int) -> None:
        if what not in bars:
            bars[what] = click.progressbar(length=total, label=f"Harvesting {what}", file=sys.stderr)
            bars[what].__enter__()
        bar = bars[what]
        bar.length = total
        bar.update(done - bar.pos)

    try:
        summary = area.build_area(db, query, echo, progress)
    finally:
        for bar in bars.values():
            bar.__exit__(None, None, None)
    click.echo(summary.line())
    checks_line(db)
    if summary.failed:
        fail(f"{len(summary.failed)} failures; the KB keeps what was stored: run the same command again to continue")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--derive/--no-derive", default=True, show_default=True,
              help="Extract and check the imported records, and any an earlier run left underived (skip for a bulk "
                   "load, then run `kb check`).")
@click.option("--workers", type=click.IntRange(min=1), help="Processes that derive when more than 20,000 trials "
              "and articles wait for it (default: one per CPU; 1: derive in this process).")
@db_option
@uses_kb
def import_(paths, derive, workers, db_path):
    """Load saved responses without network: study JSON, the registry's JSON array or ZIP download, and article
    responses (PubMed XML, Crossref or Europe PMC JSON, J-STAGE pages, CiNii Research JSON-LD, JATS full text).

    Example: kb import ctg-studies.json.zip --db kb.db
    """
    _import(list(paths), db_path, derive, workers)


def _import(paths: list[Path], db_path: str, then_derive: bool = True, workers: int | None = None):
    """Import `paths`; a KB this run created and stored nothing in (every path failed) is removed again."""
    try:
        pipeline.files.limits()
    except pipeline.files.BadSetting as exc:
        fail(str(exc), EXIT_USAGE)
    created = not Path(db_path).exists()
    db = open_db(db_path)
    total = sum(p.stat().st_size for p in pipeline.files.expand_paths(paths))
    with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
        summary = pipeline.import_paths(db, paths, then_derive, progress=bar.update, workers=workers)
    for message in summary.failed:
        click.echo(f"kb: {message}", err=True)
    click.echo(f"{summary.read} studies read, {summary.stored} stored, {summary.unchanged} unchanged; "
               f"{len(summary.article_ids)} articles; {len(summary.failed)} failed.")
    if created and not (summary.stored or summary.article_ids):
        db.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(db_path + suffix).unlink(missing_ok=True)
    elif then_derive:
        click.echo(f"{summary.derived} trials and articles derived (this import's, and any an earlier run left).")
        checks_line(db)
    elif summary.stale:
        click.echo(f"{summary.stale} trials and articles not derived yet (no extraction, no checks): `kb check` "
                   "derives them, as does the next import or refresh.")
    if summary.failed:
        sys.exit(EXIT_FAILED)


def checks_line(db):
    from kb.derive import verdict_counts

    verdicts = verdict_counts(db)
    click.echo(f"{sum(verdicts.values())} checks in the KB: "
               + ", ".join(f"{verdicts.get(v, 0)} {v}" for v in ("consistent", "inconsistent",
                                                                    "consistent_if_truncated", "not_checkable"))
               + " (the `inconsistencies` query in `kb serve` lists those not consistent)")


@cli.group()
def extract():
    """Run an extractor on text you give and print JSON.

    Example: kb extract regimen "lenalidomide 25 mg on days 1-21 of 28-day cycles"
    """


@extract.command("regimen")
@click.argument("text")
def extract_regimen_command(text):
    """Drug schedule lines of TEXT ('-' reads standard input), one JSON object each.

    Example: kb extract regimen "dexamethasone 20 mg once a week for six 28-day cycles"
    """
    from kb.extract.regimen import extract_regimen

    click.echo(json.dumps(extract_regimen(read_text(text)), indent=2, ensure_ascii=False))


@extract.command("stats")
@click.argument("text")
def extract_stats_command(text):
    """Reported statistics of TEXT ('-' reads standard input), with their spans and precision.

    Example: kb extract stats "The mean serum VEGF level decreased from 2,466±771 pg/mL to 974±340 pg/mL."
    """
    from kb.extract.stats import extract_stats

    click.echo(json.dumps(extract_stats(read_text(text)), indent=2, ensure_ascii=False))


@extract.command("endpoints")
@click.argument("text")
def extract_endpoints_command(text):
    """Endpoints named in TEXT ('-' reads standard input).

    Example: kb extract endpoints "The primary endpoint was overall survival at 24 months."
    """
    from kb.extract.endpoints import extract_endpoints

    click.echo(json.dumps(extract_endpoints(read_text(text)), indent=2, ensure_ascii=False))


UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(ctx, param, value: str | None) -> int | None:
    """'30s', '15m', '24h', '7d' → seconds (a bad value is a usage error)."""
    import re

    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", value.lower())
    if not match or int(match[1]) == 0:
        raise click.BadParameter(f"{value!r}: expected a positive whole number and a unit s, m, h or d, e.g. 24h")
    return int(match[1]) * UNITS[match[2]]


@cli.command()
@db_option
@click.option("--every", callback=parse_interval, metavar="INTERVAL",
              help="Keep running and refresh every INTERVAL (s/m/h/d, e.g. 24h); SIGTERM or SIGINT stops it "
                   "between records.")
@click.option("--backfill-history", "backfill", is_flag=True,
              help="UNOFFICIAL, best effort, off by default: also store each trial's earlier registry versions "
                   "from the record-history view, an undocumented internal ClinicalTrials.gov endpoint that may "
                   "change or vanish; fetched once per trial, failures are only warnings.")
@uses_kb
def refresh(db_path, every, backfill):
    """Update tracked registry records, fetching only those that changed (exit 1 if some failed).

    Exit status: 0 nothing changed or every change stored, 1 some records failed (the others are stored) or the
    registry paused the run (429 with a long Retry-After, or 3 failures in a row: the rest is left for the next run),
    2 usage error, 3 another refresh holds the lock, 4 the KB file cannot be used (the line says why).

    Example: kb refresh --db kb.db --every 24h
    """
    from kb import schedule

    if not Path(db_path).is_file():
        fail(f"no knowledge base at {db_path}: run `kb build` or `kb import` first", EXIT_USAGE)
    try:
        with schedule.refresh_lock(db_path), schedule.stop_on_signals() as stop, open_db(db_path) as db:
            summary = schedule.run(db, stop, every, backfill, echo)
    except schedule.Locked as exc:
        fail(str(exc), schedule.EXIT_LOCKED)
    sys.exit(EXIT_FAILED if (summary.failed or summary.left) and not every else 0)


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 or :: opens the KB to the network).")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@uses_kb
def serve(db_path, host, port):
    """Browse the KB in Datasette (documented tables, canned queries, charts), read-only; prints the URL.

    SQL queries stop after 3 s; a value is at most 64 MiB, a query's rows 128 MiB, a response 256 MiB. SIGTERM or
    Ctrl-C stops it (exit 0). Exit status: 2 no KB there, 4 the KB file cannot be served (the line says why: not a
    KB, damaged, needs an upgrade by `kb check`), 5 cannot listen there (port in use).

    Example: kb serve --db kb.db --port 8001
    """
    from kb import serve as server

    if not Path(db_path).is_file():
        fail(f"no knowledge base at {db_path}: run `kb build` first", EXIT_USAGE)
    for warning in server.inspect(db_path):
        click.echo(f"kb: {warning}", err=True)
    try:
        listener = server.listen(host, port)
    except server.CannotListen as exc:
        fail(str(exc), server.EXIT_LISTEN)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {db_path} at http://{shown_host}:{listener.getsockname()[1]}/ (Ctrl-C stops)")
    server.run(db_path, listener)


from kb.cli_check import check  # noqa: E402  (the `kb check` commands, in their own module: they import this one)

cli.add_command(check)
