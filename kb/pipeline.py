"""Orchestration: what `kb build` and `kb import` do, each as fetch (or read) → parse → save → derive (`kb refresh`:
`kb.refresh`).

Nothing here prints: each step reports through `emit` (an `Event`: one line of text, `error` for a failure) and
returns a summary; `kb.cli` prints. A record that fails is reported and leaves the KB as it was (each document is
saved in one transaction); the others go on.

Each way in ends by deriving whatever is stale (`derive_stale`, kb/store/derived.py), not only what this run stored:
a run interrupted before or during derive (Ctrl-C, kill -9, a full disk) leaves its trials and articles stale, and the
next import, refresh or `kb check` derives them, so the KB ends the same however often it was interrupted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from harvest import http, sources
from harvest.errors import BadIdentifier, HarvestError, NotFound, ParseError, UpstreamError
from harvest.identifiers import normalize_doi, normalize_pmid
from harvest.registries import ctgov
from kb.load import articles, files, trials
from kb.store import bulk, derived

DEFAULT_NCT, DEFAULT_PMID, DEFAULT_DOI = "NCT02193698", "32009091", "10.2169/internalmedicine.3800-19"
BATCH = 500  # studies per transaction in an import
DERIVE_BATCH = 500  # stale trials and articles per derive transaction (each committed: an interruption keeps them)
PARALLEL_AFTER = 20_000  # stale subjects above which derive runs in worker processes: each loads scipy and the drug
# dictionary (5-10 CPU-seconds), so on 2 cores shared with other work two workers were slower than one process at
# 10,000 replicated studies (README, scale)


@dataclass(frozen=True)
class Event:
    """One line to report; `error` when it is a failure (one line naming the source and the record)."""

    text: str
    error: bool = False


Emit = Callable[[Event], None]


def quiet(event: Event) -> None:
    """The `emit` that reports nothing."""


def derive(db: sqlite_utils.Database, nct_ids=(), article_ids=()) -> None:
    """Extract and check the given trials and articles (imported here: the checks load scipy, which a refresh with
    nothing to do never needs)."""
    from kb.derive import rederive

    rederive(db, nct_ids, article_ids)


def derive_stale(db: sqlite_utils.Database, stopped: Callable[[], bool] = lambda: False,
                 workers: int | None = None) -> int:
    """Derive every stale trial and article (`kb.store.derived.stale_subjects`), DERIVE_BATCH to a transaction
    (`kb.derive.derive_in_batches`; scipy is imported only when something is stale). More than PARALLEL_AFTER of
    them are derived in `workers` processes (default: one per CPU; kb/derive/parallel.py), this one writing. Returns
    how many were derived; those not reached (interrupted, or `stopped()` between two batches) stay stale for the
    next run."""
    stale = derived.stale_subjects(db)
    if not stale:
        return 0
    if workers is None:
        workers = os.cpu_count() or 1
    if workers > 1 and len(stale) > PARALLEL_AFTER:
        from kb.derive.parallel import derive_parallel

        return derive_parallel(db, stale, DERIVE_BATCH, workers, stopped)
    from kb.derive import derive_in_batches

    return derive_in_batches(db, stale, DERIVE_BATCH, stopped)


def stale_count(db: sqlite_utils.Database) -> int:
    """How many trials and articles wait for derive."""
    return len(derived.stale_subjects(db))


# --- kb build --------------------------------------------------------------------------------------------------------


@dataclass
class BuildSummary:
    """How many records (trials and articles) a build asked for, and the failures."""

    records: int = 0
    failed: list[str] = field(default_factory=list)


def build(db: sqlite_utils.Database, ncts: list[str], pmids: list[str], dois: list[str],
          emit: Emit = quiet) -> BuildSummary:
    """Harvest registry records and articles (identifiers already validated), then derive. The default PMID and DOI
    name one article, harvested together."""
    summary = BuildSummary()
    failures = summary.failed

    def failed(exc: HarvestError) -> None:
        failures.append(str(exc))
        emit(Event(str(exc), error=True))

    for nct in ncts:
        try:
            fetched = ctgov.fetch_study(nct)
            stored = trials.save_studies(db, [trials.study_document(fetched)])
            emit(Event(f"{nct}: {'stored' if stored else 'unchanged'} ({fetched.url})"))
        except HarvestError as exc:
            failed(exc)
    together = [(DEFAULT_PMID, DEFAULT_DOI)] if (pmids, dois) == ([DEFAULT_PMID], [DEFAULT_DOI]) else \
        [(p, None) for p in pmids] + [(None, d) for d in dois]
    summary.records = len(ncts) + len(together)
    article_ids = []
    for pmid, doi in together:
        try:
            report = harvest_article(db, pmid=pmid, doi=doi)
        except HarvestError as exc:
            failed(exc)
            continue
        article_ids.append(report["article_id"])
        missed = "; ".join(report["sources_failed"].values())
        emit(Event(f"{report['article_id']}: from {', '.join(report['sources_ok'])}"
                   + (f" (not from: {missed})" if missed else "")))
    derive_stale(db)  # what this build stored, and whatever an earlier run left underived
    return summary


def harvest_article(db: sqlite_utils.Database, pmid: str | None = None, doi: str | None = None) -> dict:
    """Ask every article source (`harvest.sources.harvest_order`) about one article, merge, save in one transaction.

    Returns {article_id, sources_ok, sources_failed: {source: message}}. BadIdentifier is raised before any request
    for a malformed PMID or DOI; NotFound or UpstreamError, saving nothing, when no source gave the article.
    """
    ids = {"pmid": normalize_pmid(pmid) if pmid else None, "doi": normalize_doi(doi) if doi else None, "pmcid": None}
    if not (ids["pmid"] or ids["doi"]):
        raise BadIdentifier("article", repr(pmid or doi), "give a PMID or a DOI")
    label = f"PMID {ids['pmid']}" if ids["pmid"] else f"DOI {ids['doi']}"
    found: list[articles.Found] = []
    kept: list[http.Fetched] = []
    failed: dict[str, HarvestError] = {}
    for source in sources.harvest_order():
        try:
            for fetched in source.lookup(ids, [f.record for f in found]):
                kept.append(fetched)
                record = next((r for r in sources.article_source(fetched.source).parse(fetched.body, fetched.key)
                               if any(r["ids"][k] and r["ids"][k] == ids[k] for k in ids)), None)
                if record is None:
                    raise NotFound(fetched.source, fetched.key, f"no record of {label} in the response")
                found.append(articles.Found(fetched, record))
                ids = {k: ids[k] or record["ids"][k] for k in ids}
        except HarvestError as exc:
            failed[exc.source if exc.source in {s.name for s in sources.ARTICLE_SOURCES} else source.name] = exc
    if not found:
        error = NotFound if all(isinstance(e, NotFound) for e in failed.values()) else UpstreamError
        raise error("article", label, "no source gave it (" + "; ".join(
            f"{name}: {exc.kind}: {exc.reason}" for name, exc in failed.items()) + ")")
    docs = articles.merge(found, kept)
    articles.save_articles(db, [docs])
    return {"article_id": docs[0].rows["articles"][0]["article_id"],
            "sources_ok": list(dict.fromkeys(f.source for f in found)),
            "sources_failed": {name: str(exc) for name, exc in failed.items()}}


# --- kb import -------------------------------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import read, stored (by NCT ID), found unchanged, and could not read; the articles it stored; how
    many trials and articles it derived (this run's and those an earlier run left stale), or, without derive, how
    many wait for it."""

    read: int = 0
    stored_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    derived: int = 0
    stale: int = 0

    @property
    def stored(self) -> int:
        return len(self.stored_ids)


def import_paths(db: sqlite_utils.Database, paths: list[Path], then_derive: bool = True,
                 progress: Callable[[int], None] | None = None, workers: int | None = None) -> ImportSummary:
    """Import every saved response in `paths` (files or folders): studies, then article responses; then derive
    whatever is stale, in `workers` processes when there is much of it (`derive_stale`; without `then_derive`,
    count it).

    A file holding no record kb import reads, a record that does not parse, a refused ZIP member or array element
    is a failure (one line naming the file, and the member or position) and everything else is stored.
    """
    summary, study_files, article_files = ImportSummary(), [], []
    for path in files.expand_paths(paths):
        try:
            kind = files.file_kind(path)
        except OSError as exc:
            summary.failed.append(files.failure(path, exc))
            continue
        if kind is None:
            summary.failed.append(f"{path}: {files.NOTHING}")
        elif kind in files.STUDY_KINDS:
            study_files.append(path)
        else:
            article_files.append((path, kind))
    import_studies(db, study_files, progress, summary)
    summary.article_ids = import_articles(db, article_files, summary.failed)
    if then_derive:
        summary.derived = derive_stale(db, workers=workers)
    else:
        summary.stale = stale_count(db)
    return summary


def import_studies(db: sqlite_utils.Database, paths: list[Path], progress=None,
                   summary: ImportSummary | None = None) -> ImportSummary:
    """Import every study in `paths` (other files are left out), in transactions of up to BATCH studies; a study
    that is refused or does not parse, or a file that gives none, is added to `summary.failed`.

    Once an import has stored as many studies as the KB held when it began (at least a batch), it becomes a bulk
    load: secondary indexes and full-text indexing wait for its end (kb/store/bulk.py).
    """
    looked_up = {table: {next(iter(where))} for table, where in trials.study_scopes("").items()}
    written = {"snapshots": set(), "trials": set(), "trial_versions": set()} | looked_up
    summary, batch = summary or ImportSummary(), []
    bulk_after = max(BATCH, db["trials"].count)
    with bulk.DeferredIndexes(db, written) as deferred:

        def flush():
            stored, failed = trials.save_each(db, batch)
            summary.stored_ids.extend(stored)
            summary.failed.extend(failed)
            summary.unchanged += len(batch) - len(stored) - len(failed)
            batch.clear()
            if summary.stored >= bulk_after:
                deferred.start()

        for path in files.expand_paths(paths):
            try:
                if not files.is_study_file(path):
                    continue
                for element in files.iter_studies(path):
                    summary.read += 1
                    if progress:
                        progress(element.consumed)
                    try:
                        if element.error:
                            raise element.error
                        batch.append((element.where, trials.study_document(*files.study_response(
                            element.raw, element.url, element.fetched_at, element.where, element.value))))
                    except ParseError as exc:
                        summary.failed.append(str(exc))
                    if len(batch) >= BATCH:
                        flush()
            except (ParseError, files.Unreadable, OSError) as exc:
                summary.failed.append(files.failure(path, exc))
            flush()
    return summary


def import_articles(db: sqlite_utils.Database, article_files: list[tuple[Path, sources.ArticleSource]],
                    failed: list[str]) -> list[str]:
    """Store the articles in saved responses ((path, source) pairs), each file parsed on its own: one that does not
    parse or names no article (no PMID, DOI or PMCID) is added to `failed`, the others are stored, in one
    transaction. Returns the article ids."""
    found = []
    for path, source in article_files:
        try:
            records = [f for f in articles.parse_response(files.article_response(path, source))
                       if any(f.record["ids"].values())]
        except (HarvestError, OSError) as exc:
            failed.append(files.failure(path, exc))
            continue
        if not records:
            failed.append(f"{path}: a {source.name} response naming no article (no PMID, DOI or PMCID)")
        found += records
    saved = articles.merge_found(found)
    articles.save_articles(db, saved)
    return [docs[0].rows["articles"][0]["article_id"] for docs in saved]


def import_article_files(db: sqlite_utils.Database, paths: list[Path]) -> list[str]:
    """Store the articles in saved responses (files or folders, in any registered article format), without network,
    in one transaction; returns their article ids. Files in no article format are skipped; a file in one that does
    not parse raises ParseError, saving nothing."""
    responses = [r for r in map(files.article_response, files.expand_paths([Path(p) for p in paths])) if r]
    found = articles.articles_in(responses)
    articles.save_articles(db, found)
    return [docs[0].rows["articles"][0]["article_id"] for docs in found]
