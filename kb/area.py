"""Orchestration of `kb build --condition/--query`: every study a registry search finds, then the PubMed articles
their records reference, then derive. Like `kb.pipeline`, it reports through `emit` (and `progress`) and prints
nothing.

Resumable: each page of the search (PAGE_SIZE full records, `nextPageToken`) is stored in one transaction with its
studies, each study its own snapshot (its exact bytes, `#/studies/i` in the page's URL), the page itself kept as a
snapshot named `search <parameters> page <n>`. A rerun reads the last stored page's `nextPageToken` and continues
there, so no page is asked twice; a search whose last page is stored is not asked again (`kb refresh` keeps its
records current). Articles are asked of PubMed (efetch, `pubmed.BATCH` PMIDs a request) once: a PMID the KB holds,
or that an earlier efetch response kept in the KB was asked for, is not asked again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlite_utils

from harvest import http
from harvest.articles import pubmed
from harvest.errors import HarvestError, ParseError
from harvest.registries import ctgov
from kb.load import articles, trials
from kb.pipeline import Emit, Event, derive_stale, quiet
from kb.store import documents

PAGE_SIZE = ctgov.MAX_PAGE_SIZE
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class AreaSummary:
    """What a disease-area build found and stored, what an earlier run had done, and the failures."""

    studies: int = 0
    stored: int = 0
    pages: int = 0
    pages_before: int = 0
    total: int | None = None
    referenced: int = 0
    asked: int = 0
    articles: int = 0
    not_returned: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    requests: int = 0

    def line(self) -> str:
        before = f" ({self.pages_before} stored by an earlier run)" if self.pages_before else ""
        return (f"area: {self.studies} studies in {self.pages + self.pages_before} pages{before}, {self.stored} "
                f"stored; {self.referenced} PMIDs referenced, {self.asked} asked of PubMed, {self.articles} articles "
                f"stored, {len(self.not_returned)} not returned; {len(self.failed)} failed; {self.requests} requests")


def build_area(db: sqlite_utils.Database, query: dict[str, str], emit: Emit = quiet,
               progress: Progress = lambda what, done, total: None) -> AreaSummary:
    """Harvest every study of the registry search `query` (API parameters, dots as underscores: `query_cond`,
    `query_term`), then the PubMed articles they reference, then derive; resumable (see the module)."""
    requests_before, summary = http.request_count, AreaSummary()
    key = ctgov.search_key(**query)
    pages = stored_pages(db, key)
    found = [nct for body in pages for nct in _page_ids(body)]
    summary.pages_before = len(pages)
    token = ctgov.parse_search_page(pages[-1], key).get("nextPageToken") if pages else None
    if pages and not token:
        emit(Event(f"{key}: all {len(pages)} pages stored by an earlier run; not asked again"))
    else:
        _search(db, query, key, token, found, summary, emit, progress)
    summary.studies = len(dict.fromkeys(found))
    _articles(db, list(dict.fromkeys(found)), summary, emit, progress)
    derive_stale(db)
    summary.requests = http.request_count - requests_before
    return summary


def stored_pages(db: sqlite_utils.Database, key: str) -> list[bytes]:
    """The bodies of the pages of search `key` the KB holds, in order."""
    prefix = f"{key} page "  # compared exactly: LIKE would ignore case and read _ and % in the search as wildcards
    rows = db.execute("select key, body from snapshots where source = ? and substr(key, 1, ?) = ?",
                      [ctgov.SOURCE.name, len(prefix), prefix]).fetchall()
    numbered = {int(name.rsplit(" ", 1)[1]): body for name, body in rows if name.rsplit(" ", 1)[1].isdigit()}
    return [numbered[n] for n in sorted(numbered)]


def _page_ids(body: bytes) -> list[str]:
    return [ctgov.study_nct_id(study) for study in ctgov.parse_search_page(body)["studies"]]


def _search(db, query: dict[str, str], key: str, token: str | None, found: list[str], summary: AreaSummary,
            emit: Emit, progress: Progress) -> None:
    """Fetch the pages from `token` on (from the first without one), storing each with its studies."""
    number = summary.pages_before
    try:
        for page in ctgov.search(PAGE_SIZE, key=key, page_token=token, **query):
            number += 1
            split = ctgov.split_page(page)
            if summary.total is None:
                summary.total = json.loads(page.body).get("totalCount")
            docs = []
            for fetched, study in split:
                try:
                    docs.append(trials.study_document(fetched, study))
                except ParseError as exc:
                    summary.failed.append(str(exc))
                    emit(Event(str(exc), error=True))
            summary.stored += len(_store_page(db, dataclasses.replace(page, key=f"{key} page {number}"), docs))
            found += [fetched.key for fetched, _ in split]
            summary.pages += 1
            progress("studies", len(found), max(summary.total or 0, len(found)))
    except HarvestError as exc:
        summary.failed.append(f"{exc}; the pages stored are kept: run the same command again to continue")
        emit(Event(summary.failed[-1], error=True))


def _store_page(db: sqlite_utils.Database, page: http.Fetched, docs: list[documents.Document]) -> list[str]:
    """The studies of a page and the page itself, in one transaction (an interruption keeps the pages before)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        stored = trials.save_studies(db, docs)
        documents.save(db, [documents.Document(page, {})])
    except BaseException:
        db.rollback()
        raise
    db.commit()
    return stored


def _articles(db: sqlite_utils.Database, nct_ids: list[str], summary: AreaSummary, emit: Emit,
              progress: Progress) -> None:
    """Fetch from PubMed, in batches, the articles the trials reference that the KB neither holds nor asked for."""
    referenced = list(dict.fromkeys(pmid for nct in nct_ids for (pmid,) in db.execute(
        "select pmid from trial_references where nct_id = ? and pmid is not null order by position", [nct])))
    held = {pmid for (pmid,) in db.execute("select pmid from articles where pmid is not null")}
    held |= {pmid for (name,) in db.execute("select key from snapshots where source = ?", [pubmed.SOURCE.name])
             for pmid in name.split(",")}
    wanted = [pmid for pmid in referenced if pmid not in held]
    summary.referenced, summary.asked = len(referenced), len(wanted)
    done = 0
    try:
        for fetched in pubmed.fetch(wanted):
            asked = fetched.key.split(",")
            found = [f for f in articles.parse_response(fetched) if f.record["ids"]["pmid"] in asked]
            articles.save_articles(db, articles.merge_found(found))
            # then the response itself (its PMIDs are not asked again): after the articles, so that a stop between
            # the two leaves them to be asked again rather than marked asked and missing
            documents.save(db, [documents.Document(fetched, {})])
            returned = {f.record["ids"]["pmid"] for f in found}
            summary.articles += len(returned)
            summary.not_returned += [pmid for pmid in asked if pmid not in returned]
            done += len(asked)
            progress("articles", done, len(wanted))
    except HarvestError as exc:
        summary.failed.append(f"{exc}; {len(wanted) - done} PMIDs not asked: run the same command again")
        emit(Event(summary.failed[-1], error=True))
