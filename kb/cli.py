"""The `kb` command line: build, import, check, extract, refresh, serve.

Modules that are slow to import (scipy for the checks, Datasette for serving) are imported by the commands that use
them, so that `kb --help` and a scheduled `kb refresh` with nothing to do start in well under a second.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from harvest import ctgov
from harvest.errors import BadIdentifier, HarvestError
from harvest.identifiers import normalize_doi, normalize_pmid

from . import ingest
from .articles import harvest_article, import_article_files
from .importer import import_studies
from .schema import open_db

DEFAULT_NCT, DEFAULT_PMID, DEFAULT_DOI = "NCT02193698", "32009091", "10.2169/internalmedicine.3800-19"
OFFLINE_DIR = Path(__file__).parent / "data" / "offline"
db_option = click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(dir_okay=False),
                         help="SQLite file of the knowledge base.")


def fail(message: str, code: int = 1):
    click.echo(f"kb: {message}", err=True)
    sys.exit(code)


def read_text(text: str) -> str:
    """The TEXT argument, or standard input when it is '-'."""
    return sys.stdin.read() if text == "-" else text


class LazyGroup(click.Group):
    """A group whose commands named in `lazy` ("module:attribute") are imported only when asked for."""

    def __init__(self, *args, lazy: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx, name):
        if name in self.lazy:
            module, attribute = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, lazy={"refresh": "kb.refresh:refresh", "serve": "kb.serve:serve"},
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="trial-kb")
def cli():
    """trial-kb: what a clinical trial registered, what its article published, and whether the numbers hold up.

    Example: kb build && kb serve
    """


@cli.command()
@click.option("--nct", "ncts", multiple=True, metavar="NCT_ID", help="ClinicalTrials.gov ID (repeatable).")
@click.option("--pmid", "pmids", multiple=True, metavar="PMID", help="PubMed ID of an article (repeatable).")
@click.option("--doi", "dois", multiple=True, metavar="DOI", help="DOI of an article (repeatable).")
@click.option("--offline", is_flag=True, help="Build from the recorded responses shipped with trial-kb, no network.")
@db_option
def build(ncts, pmids, dois, offline, db_path):
    """Harvest registry records and articles, then extract and check (default: NCT02193698 and PMID 32009091).

    Example: kb build --nct NCT00791778 --pmid 23591401 --db kb.db
    """
    if offline:
        files = ", ".join(sorted(p.name for p in OFFLINE_DIR.iterdir() if p.suffix != ".md"))
        click.echo(f"Offline build from the responses shipped in {OFFLINE_DIR} ({files}); see PROVENANCE.md there: "
                   f"the seed article's responses are reconstructed from its published page, {DEFAULT_NCT} has no "
                   "recorded registry response, and NCT00791778 is a real recorded study with results.")
        return _import([OFFLINE_DIR], db_path)
    if not (ncts or pmids or dois):
        ncts, pmids, dois = [DEFAULT_NCT], [DEFAULT_PMID], [DEFAULT_DOI]
    try:
        ncts = [ctgov.normalize_nct(n) for n in ncts]
        pmids, dois = [normalize_pmid(p) for p in pmids], [normalize_doi(d) for d in dois]
    except BadIdentifier as exc:
        fail(str(exc), 2)
    db = open_db(db_path)
    failures, articles = [], []
    for nct in ncts:
        try:
            fetched = ctgov.fetch_study(nct)
            stored = ingest.save_studies(db, [ingest.study_document(fetched)])
            click.echo(f"{nct}: {'stored' if stored else 'unchanged'} ({fetched.url})")
        except HarvestError as exc:
            failures.append(str(exc))
            click.echo(f"kb: {exc}", err=True)
    together = [(DEFAULT_PMID, DEFAULT_DOI)] if (pmids, dois) == ([DEFAULT_PMID], [DEFAULT_DOI]) else \
        [(p, None) for p in pmids] + [(None, d) for d in dois]
    for pmid, doi in together:
        try:
            report = harvest_article(db, pmid=pmid, doi=doi)
            articles.append(report["article_id"])
            failed = "; ".join(report["sources_failed"].values())
            click.echo(f"{report['article_id']}: from {', '.join(report['sources_ok'])}"
                       + (f" (not from: {failed})" if failed else ""))
        except HarvestError as exc:
            failures.append(str(exc))
            click.echo(f"kb: {exc}", err=True)
    _derive(db, ncts, articles)
    if failures:
        fail(f"{len(failures)} of {len(ncts) + len(together)} records failed; the KB keeps what it had. "
             "Without network, `kb build --offline` builds from recorded responses.")


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--derive/--no-derive", default=True, show_default=True,
              help="Extract and check the imported records (skip for a bulk load, then run `kb check`).")
@db_option
def import_(paths, derive, db_path):
    """Load saved responses without network: study JSON, the registry's JSON array or ZIP download, and article
    responses (PubMed XML, Crossref or Europe PMC JSON, J-STAGE pages).

    Example: kb import ctg-studies.json.zip --db kb.db
    """
    _import(list(paths), db_path, derive)


def _import(paths: list[Path], db_path: str, then_derive: bool = True):
    db = open_db(db_path)
    total = sum(p.stat().st_size for path in paths for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    with click.progressbar(length=total, label="Importing", file=sys.stderr) as bar:
        summary = import_studies(db, paths, progress=bar.update)
    articles = []
    try:
        articles = import_article_files(db, summary.other_files) if summary.other_files else []
    except HarvestError as exc:
        summary.failed.append(str(exc))
    for message in summary.failed:
        click.echo(f"kb: {message}", err=True)
    click.echo(f"{summary.read} studies read, {summary.stored} stored, {summary.unchanged} unchanged; "
               f"{len(articles)} articles; {len(summary.failed)} failed.")
    if then_derive:
        _derive(db, summary.stored_ids, articles)
    if summary.failed:
        sys.exit(1)


def _derive(db, nct_ids, article_ids):
    from .derive import rederive

    rederive(db, nct_ids, article_ids)
    _checks_line(db)


def _checks_line(db):
    verdicts = dict(db.execute("select verdict, count(*) from checks group by verdict").fetchall())
    click.echo(f"{sum(verdicts.values())} checks in the KB: "
               + ", ".join(f"{verdicts.get(v, 0)} {v}" for v in ("consistent", "inconsistent", "not_checkable"))
               + " (the `inconsistencies` query in `kb serve` lists those not consistent)")


@cli.group(invoke_without_command=True)
@db_option
@click.pass_context
def check(ctx, db_path):
    """Recompute every check in the KB (idempotent); subcommands check numbers or text you give.

    Example: kb check --db kb.db
    """
    if ctx.invoked_subcommand is None:
        if not Path(db_path).exists():
            fail(f"no knowledge base at {db_path}: run `kb build` first", 2)
        from .derive import rederive_all

        db = open_db(db_path)
        rederive_all(db)
        _checks_line(db)


def _print_verdicts(verdicts: list[dict], as_json: bool):
    if as_json:
        click.echo(json.dumps(verdicts, indent=2))
        return
    for v in verdicts:
        click.echo(f"{v['verdict']}: {v['detail']}")


@check.command("stats")
@click.option("--mean", help="Reported mean (as written, e.g. 59.6).")
@click.option("--sd", help="Reported standard deviation.")
@click.option("--se", help="Reported standard error.")
@click.option("--pm", help="Reported ± value when the text does not say SD or SE (read both ways).")
@click.option("--n", help="Sample size.")
@click.option("--p", help="Reported p-value as written (0.0003, <0.001).")
@click.option("--ratio", help="Hazard, odds or risk ratio.")
@click.option("--lower", help="Lower confidence limit.")
@click.option("--upper", help="Upper confidence limit.")
@click.option("--level", default="95", show_default=True, help="Confidence level in %.")
@click.option("--one-sided-stated", is_flag=True, help="The source says its p-value is one-sided.")
@click.option("--percent", help="Reported percentage (GRIM-style check against --n, and --k if given).")
@click.option("--k", help="Reported count of the percentage.")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
def check_stats(mean, sd, se, pm, n, p, ratio, lower, upper, level, one_sided_stated, percent, k, as_json):
    """Check numbers you give: p from mean ± SD/SE and n, p from a ratio and its CI, a percentage of n.

    Example: kb check stats --mean 59.6 --pm 8.3 --n 5 --p 0.0003
    """
    from .checks import recompute as rc

    verdicts = []
    dispersion = [(t, v) for t, v in (("sd", sd), ("se", se), ("pm", pm)) if v]
    if mean and dispersion and n and p:
        kind, value = dispersion[0]
        verdicts.append(rc.p_one_sample(mean, value, int(n), p, dispersion_type=kind))
    if ratio and p:
        verdicts.append(rc.p_from_ratio_ci(ratio, lower or "", upper or "", p, level=level,
                                           context="one-sided" if one_sided_stated else ""))
    if percent and n:
        verdicts.append(rc.percent_of_count(percent, int(n), k))
    if not verdicts:
        fail("give --mean with --sd/--se/--pm, --n and --p; or --ratio with --lower, --upper and --p; "
             "or --percent with --n", 2)
    _print_verdicts(verdicts, as_json)


@check.command("text")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="Print verdict, method and recomputed range of each check.")
def check_text(text, as_json):
    """Extract every statistic from a passage (or '-' for standard input) and check what can be checked.

    Example: echo "The mean was 59.6%±8.3% (p=0.0003) in five men." | kb check text -
    """
    from .crosscheck import statistics_checks
    from .extract.stats import extract_stats

    text = read_text(text)
    rows = [{**row, "id": f"number {i + 1}"} for i, row in enumerate(extract_stats(text))]
    _print_verdicts([verdict for verdict, _ in statistics_checks(rows, text)], as_json)


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
    from .extract.regimen import extract_regimen

    click.echo(json.dumps(extract_regimen(read_text(text)), indent=2, ensure_ascii=False))


@extract.command("stats")
@click.argument("text")
def extract_stats_command(text):
    """Reported statistics of TEXT ('-' reads standard input), with their spans and precision.

    Example: kb extract stats "The mean serum VEGF level decreased from 2,466±771 pg/mL to 974±340 pg/mL."
    """
    from .extract.stats import extract_stats

    click.echo(json.dumps(extract_stats(read_text(text)), indent=2, ensure_ascii=False))


@extract.command("endpoints")
@click.argument("text")
def extract_endpoints_command(text):
    """Endpoints named in TEXT ('-' reads standard input).

    Example: kb extract endpoints "The primary endpoint was overall survival at 24 months."
    """
    from .extract.endpoints import extract_endpoints

    click.echo(json.dumps(extract_endpoints(read_text(text)), indent=2, ensure_ascii=False))

