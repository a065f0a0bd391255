"""Orchestration of `kb refresh`: the change list, then the changed records fetched in pages (`filter.ids`, up to
1,000 full records a page) and each stored in its own transaction with what derives from it. Like `kb.pipeline`, it
reports through `emit` and prints nothing; the lock, signals and `--every` are in `kb.schedule`.

The change list asks for every tracked NCT ID (IDS_PER_REQUEST a request) on a KB's first refresh and whenever the
last such list is older than FULL_LIST_DAYS: only it shows records removed from the registry or turned into aliases.
In between it asks for the records posted since the day before the last complete list (`LastUpdatePostDate`), a
page or a few whatever the KB's size. Its pages are kept as snapshots (`change list ...`): the next run's date
comes from them, and each decision to fetch or not traces to them. A run that failed or left records does not keep
its list, so the next one asks again from the same date.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import sqlite_utils

from harvest import http
from harvest.errors import HarvestError, HostPaused, Interrupted, NotFound, ParseError
from harvest.registries import ctgov
from kb.load import trials
from kb.pipeline import Emit, Event, derive, derive_stale, quiet, stale_count
from kb.store import documents, history

STATE_LINES = {"gone": "no longer in the registry: registry_state = 'gone' (its rows are kept)",
               "alias": "now an alias of {alias_of}: registry_state = 'alias'",
               "current": "in the registry again: registry_state = 'current'"}
FULL_LIST_DAYS = 7  # days between two change lists of every tracked ID (the only ones that see removed records)


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
    """What a refresh did: `failed` one message per failure (a record, or a page of records), `failed_records` how
    many records they left as they were; `left`: records to fetch it did not reach because the registry paused it."""

    checked: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    failed_records: int = 0
    requests: int = 0
    seconds: float = 0.0
    left: int = 0

    def line(self) -> str:
        left = f"{self.left} left for the next run, " if self.left else ""
        return (f"refresh: {self.checked} checked, {self.changed} changed, {self.failed_records} failed, {left}"
                f"{self.requests} requests, {self.seconds:.1f} s")


class _Stop(Exception):
    """The fetching ends here (a stop request, or the registry paused the run)."""


def refresh_once(db: sqlite_utils.Database, stopped: Callable[[], bool], backfill: bool = False,
                 emit: Emit = quiet) -> RefreshSummary:
    """One refresh: the change list, then the changed records fetched in pages and each stored (and re-derived) in
    its own transaction; failures are reported and collected, not raised. `stopped()` is asked between two records;
    a request interrupted by a stop ends the run like it. When the registry's host is paused (it answered 429 or 503
    with a Retry-After longer than KB_MAX_RETRY_AFTER, or KB_HOST_FAILURES requests in a row failed), the run stops
    early with one line saying how many records are left for the next run. Then whatever an earlier run left stale
    is derived (unless stopped: it waits for the next run)."""
    started, requests_before = time.monotonic(), http.request_count
    summary = RefreshSummary()
    tracked = trials.tracked_trials(db)
    since = list_since(db)
    try:
        pages = ctgov.fetch_change_list(list(tracked), since)
        listed = {nct: date for page in pages for nct, date in ctgov.parse_change_list(page.body).items()}
    except Interrupted as exc:
        emit(Event(str(exc)))
    except HarvestError as exc:
        message = f"change list of {len(tracked)} records: {exc.kind}: {exc.reason}; nothing fetched"
        summary.failed.append(message)
        emit(Event(message, error=True))
    else:
        summary.checked = len(tracked)
        to_fetch = trials.records_to_fetch(tracked, listed, every_id_listed=since is None)
        try:
            _fetch_and_store(db, to_fetch, stopped, summary, emit)
            complete = not (summary.failed or stopped())
        except _Stop:
            complete = False
        if complete:  # kept only when every record to fetch was: the next list starts from its date
            stamp = pages[0].fetched_at if pages else ""
            documents.save(db, [documents.Document(dataclasses.replace(page, key=f"{page.key} at {stamp}"), {})
                                for page in pages])
        if backfill and not summary.left:
            backfill_history(db, stopped, emit)
    _derive_left_stale(db, stopped, emit)
    summary.requests = http.request_count - requests_before
    summary.seconds = time.monotonic() - started
    return summary


def list_since(db: sqlite_utils.Database) -> str | None:
    """The date the change list starts from: the day before the last complete list, or None (list every tracked
    ID) when no list of every ID was kept in the last FULL_LIST_DAYS days."""
    def last(pattern: str) -> str | None:
        return db.execute("select max(fetched_at) from snapshots where source = ? and key like ?",
                          [ctgov.SOURCE.name, pattern]).fetchone()[0]

    full, latest = last("change list of %"), last("change list %")
    now = datetime.now(timezone.utc)
    if not full or datetime.fromisoformat(full) < now - timedelta(days=FULL_LIST_DAYS):
        return None
    return (datetime.fromisoformat(latest) - timedelta(days=1)).date().isoformat()


def _fetch_and_store(db: sqlite_utils.Database, to_fetch: list[str], stopped: Callable[[], bool],
                     summary: RefreshSummary, emit: Emit) -> None:
    """Fetch `to_fetch` in pages of full records and store each study on its own; a record a page did not return
    is fetched alone (404: gone; a redirect: an alias). Raises _Stop when the run must end."""
    handled = 0

    def failed(message: str, records: int = 1) -> None:
        summary.failed.append(message)
        summary.failed_records += records
        emit(Event(message, error=True))

    def store(change: Change) -> None:
        lines = store_change(db, change)
        summary.changed += bool(lines)
        for line in lines:
            emit(Event(line))

    def fetch(what: Callable, *args):
        try:
            return what(*args)
        except Interrupted as exc:
            emit(Event(str(exc)))
            raise _Stop from None
        except HostPaused as exc:
            summary.left = len(to_fetch) - handled
            emit(Event(f"refresh stopped early: {exc.reason}; {summary.left} of {len(to_fetch)} records to "
                       "fetch are left for the next run", error=True))
            raise _Stop from None

    for chunk in ctgov.id_chunks(to_fetch):
        if stopped():
            raise _Stop
        asked, returned = set(chunk), set()
        try:
            pages = ctgov.fetch_studies(chunk)
            while (page := fetch(next, pages, None)) is not None:
                for fetched, study in ctgov.split_page(page):
                    if fetched.key not in asked - returned:
                        continue  # not asked (the new record of an alias: fetched alone below), or repeated
                    returned.add(fetched.key)
                    try:
                        store(Change(fetched.key, "current", trials.study_document(fetched, study)))
                    except ParseError as exc:
                        failed(str(exc))
                    handled += 1
                    if stopped():  # between two records: the rest of the page waits for the next run
                        raise _Stop
        except HarvestError as exc:
            left = len(asked - returned)
            failed(f"{exc}; {left} records left as they were", left)
            handled += left
            continue
        for nct in [nct for nct in chunk if nct not in returned]:
            if stopped():
                raise _Stop
            try:
                change = fetch(fetch_change, nct)
            except HarvestError as exc:
                failed(str(exc))
            else:
                store(change)
            handled += 1


def _derive_left_stale(db: sqlite_utils.Database, stopped: Callable[[], bool], emit: Emit) -> None:
    """Derive what an earlier run left stale (a changed record was re-derived when it was stored)."""
    count = derive_stale(db, stopped)
    if count:
        emit(Event(f"refresh: {count} trials and articles derived (left stale by an earlier run)"))
    if stopped() and (left := stale_count(db)):
        emit(Event(f"refresh: {left} trials and articles left to derive; the next import, refresh or "
                   "`kb check` derives them"))


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
