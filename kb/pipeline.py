"""Orchestration: what `kb build`, `kb import` and `kb refresh` do, each as fetch (or read) → parse → save → derive.

Nothing here prints: each step reports through `emit` (an `Event`: one line of text, `error` for a failure) and
returns a summary; `kb.cli` prints. A record that fails is reported and leaves the KB as it was (each document is
saved in one transaction); the others go on.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from harvest import http, sources
from harvest.errors import BadIdentifier, HarvestError, HostPaused, Interrupted, NotFound, ParseError, UpstreamError
from harvest.identifiers import normalize_doi, normalize_pmid
from harvest.registries import ctgov
from kb.load import articles, files, trials
from kb.store import bulk, documents, history

DEFAULT_NCT, DEFAULT_PMID, DEFAULT_DOI = "NCT02193698", "32009091", "10.2169/internalmedicine.3800-19"
BATCH = 500  # studies per transaction in an import
STATE_LINES = {"gone": "no longer in the registry: registry_state = 'gone' (its rows are kept)",
               "alias": "now an alias of {alias_of}: registry_state = 'alias'",
               "current": "in the registry again: registry_state = 'current'"}


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
    derive(db, ncts, article_ids)
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
    """What an import read, stored (by NCT ID), found unchanged, and could not read; the articles it stored."""

    read: int = 0
    stored_ids: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return len(self.stored_ids)


def import_paths(db: sqlite_utils.Database, paths: list[Path], then_derive: bool = True,
                 progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import every saved response in `paths` (files or folders): studies, then article responses; then derive."""
    summary = import_studies(db, paths, progress)
    others = [p for p in files.expand_paths(paths) if not files.is_study_file(p)]
    try:
        summary.article_ids = import_article_files(db, others)
    except HarvestError as exc:
        summary.failed.append(str(exc))
    if then_derive:
        derive(db, summary.stored_ids, summary.article_ids)
    return summary


def import_studies(db: sqlite_utils.Database, paths: list[Path], progress=None) -> ImportSummary:
    """Import every study in `paths`, in transactions of up to BATCH studies.

    Once an import has stored as many studies as the KB held when it began (at least a batch), it becomes a bulk
    load: secondary indexes and full-text indexing wait for its end (kb/store/bulk.py).
    """
    looked_up = {table: {next(iter(where))} for table, where in trials.study_scopes("").items()}
    written = {"snapshots": set(), "trials": set(), "trial_versions": set()} | looked_up
    summary, batch = ImportSummary(), []
    bulk_after = max(BATCH, db["trials"].count)
    with bulk.DeferredIndexes(db, written) as deferred:

        def flush():
            stored = trials.save_studies(db, batch)
            summary.stored_ids.extend(stored)
            summary.unchanged += len(batch) - len(stored)
            batch.clear()
            if summary.stored >= bulk_after:
                deferred.start()

        for path in files.expand_paths(paths):
            if not files.is_study_file(path):
                continue
            try:
                for raw, value, url, fetched_at, where, consumed in files.iter_studies(path):
                    summary.read += 1
                    if progress:
                        progress(consumed)
                    try:
                        batch.append(trials.study_document(*files.study_response(raw, url, fetched_at, where, value)))
                    except ParseError as exc:
                        summary.failed.append(str(exc))
                    if len(batch) >= BATCH:
                        flush()
            except ParseError as exc:
                summary.failed.append(str(exc))
            flush()
    return summary


def import_article_files(db: sqlite_utils.Database, paths: list[Path]) -> list[str]:
    """Store the articles in saved responses (files or folders, in any registered article format), without network,
    in one transaction; returns their article ids. Files in no article format are skipped; a file in one that does
    not parse raises ParseError, saving nothing."""
    responses = [r for r in map(files.article_response, files.expand_paths([Path(p) for p in paths])) if r]
    found = articles.articles_in(responses)
    articles.save_articles(db, found)
    return [docs[0].rows["articles"][0]["article_id"] for docs in found]


# --- kb refresh ------------------------------------------------------------------------------------------------------


@dataclass
class Change:
    """What the registry now says about one tracked record: its state and, unless gone, the document to store."""

    nct_id: str
    state: str
    document: documents.Document | None = None
    alias_of: str | None = None


@dataclass
class RefreshSummary:
    """What a refresh did; `left`: records to fetch it did not reach because it stopped early (the registry paused)."""

    checked: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    left: int = 0

    def line(self) -> str:
        left = f"{self.left} left for the next run, " if self.left else ""
        return (f"refresh: {self.checked} checked, {self.changed} changed, {len(self.failed)} failed, {left}"
                f"{self.requests} requests, {self.seconds:.1f} s")


def refresh_once(db: sqlite_utils.Database, stopped: Callable[[], bool], backfill: bool = False,
                 emit: Emit = quiet) -> RefreshSummary:
    """One refresh: the change list, then each changed record fetched and stored in its own transaction; failures
    are reported and collected, not raised. `stopped()` is asked between two records; a request interrupted by a
    stop ends the run like it. When the registry's host is paused (it answered 429 or 503 with a Retry-After longer
    than KB_MAX_RETRY_AFTER, or KB_HOST_FAILURES requests in a row failed), the run stops early with one line saying
    how many records are left for the next run."""
    started, requests_before = time.monotonic(), http.request_count
    summary = RefreshSummary()
    tracked = trials.tracked_trials(db)

    def failed(message: str) -> None:
        summary.failed.append(message)
        emit(Event(message, error=True))

    try:
        listed = ctgov.fetch_change_list(list(tracked))
    except Interrupted as exc:
        emit(Event(str(exc)))
    except HarvestError as exc:
        failed(f"change list of {len(tracked)} records: {exc.kind}: {exc.reason}; nothing fetched")
    else:
        summary.checked = len(tracked)
        to_fetch = trials.records_to_fetch(tracked, listed)
        for done, nct in enumerate(to_fetch):
            if stopped():
                break
            try:
                change = fetch_change(nct)
            except Interrupted as exc:
                emit(Event(str(exc)))
                break
            except HostPaused as exc:
                summary.left = len(to_fetch) - done
                emit(Event(f"refresh stopped early: {exc.reason}; {summary.left} of {len(to_fetch)} records to "
                           "fetch are left for the next run", error=True))
                break
            except HarvestError as exc:
                failed(str(exc))
                continue
            lines = store_change(db, change)
            summary.changed += bool(lines)
            for line in lines:
                emit(Event(line))
        if backfill and not summary.left:
            backfill_history(db, stopped, emit)
    summary.requests = http.request_count - requests_before
    summary.seconds = time.monotonic() - started
    return summary


def fetch_change(nct_id: str) -> Change:
    """Fetch and parse one record: `gone` on 404, `alias` when the registry answers with another NCT ID."""
    try:
        fetched = ctgov.fetch_study(nct_id)
    except NotFound:
        return Change(nct_id, "gone")
    document = trials.study_document(fetched)
    actual = document.rows["trials"][0]["nct_id"]
    if actual == nct_id:
        return Change(nct_id, "current", document)
    document.snapshot = dataclasses.replace(fetched, key=actual)
    return Change(nct_id, "alias", document, alias_of=actual)


def store_change(db: sqlite_utils.Database, change: Change) -> list[str]:
    """Write one record's change and re-derive what depends on it, in one transaction (BEGIN IMMEDIATE: another
    writer waits rather than failing halfway; any error or interruption rolls everything back); one line per thing
    that changed (none if nothing did)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        stored = trials.save_studies(db, [change.document]) if change.document else []
        moved = trials.set_state(db, change.nct_id, change.state, change.alias_of)
        touched = sorted(set(stored) | ({change.nct_id} if moved else set()))
        if touched:
            _after_change(db, touched)
        lines = [_version_line(db, nct) for nct in stored]
    except BaseException:
        db.rollback()
        raise
    db.commit()
    if moved:
        lines.append(f"{change.nct_id}: " + STATE_LINES[change.state].format(alias_of=change.alias_of))
    return lines


def _after_change(db: sqlite_utils.Database, nct_ids: list[str]) -> None:
    """Re-derive what depends on these trials, inside the transaction that changed them."""
    derive(db, nct_ids)


def _version_line(db: sqlite_utils.Database, nct_id: str) -> str:
    """The log line of the version just stored for `nct_id`."""
    version = history.latest_versions(db, [nct_id])[nct_id]
    if version["changed_fields"] is None:
        return f"{nct_id}: version {version['version']} stored (first observation)"
    paths = [change["path"] for change in json.loads(version["changed_fields"])]
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return (f"{nct_id}: version {version['version']} stored, {len(paths)} changed field(s): "
            f"{', '.join(paths[:5])}{more}")


def backfill_history(db: sqlite_utils.Database, stopped: Callable[[], bool], emit: Emit = quiet) -> None:
    """Best effort: store, once per current trial, the versions the unofficial history view lists, as snapshots.

    A failure is a warning: the endpoint is undocumented, and the refresh itself does not depend on it.
    """
    done = {row["key"].removesuffix("/history") for row in
            db["snapshots"].rows_where("source = ? and key like '%/history'", [ctgov.HISTORY.name], select="key")}
    for nct, (_, state) in trials.tracked_trials(db).items():
        if stopped():
            return
        if state != "current" or nct in done:
            continue
        try:
            responses = ctgov.fetch_history(nct)
        except (HostPaused, Interrupted) as exc:
            emit(Event(f"warning: history backfill (unofficial endpoint) stopped at {nct}: {exc}", error=True))
            return
        except HarvestError as exc:
            emit(Event(f"warning: history backfill (unofficial endpoint) skipped {nct}: {exc}", error=True))
            continue
        documents.save(db, [documents.Document(response, {}) for response in responses])
        emit(Event(f"{nct}: {len(responses) - 1} registry versions stored from the unofficial history view"))
