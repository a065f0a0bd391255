"""`kb refresh`: bring the tracked registry records up to date, asking ClinicalTrials.gov only what changed.

One run:
1. the change list: one search per up to 1,000 tracked NCT IDs (`filter.ids`, `fields=NCTId,LastUpdatePostDate`);
2. the records to fetch: listed with another date than `trials.last_update_posted`, or no longer listed;
3. each fetched record is stored in its own transaction: snapshot, `trial_versions` row, normalized tables,
   registry state (`gone`, `alias`), re-derived checks. A record that fails is reported and left as it was.

Fetching (`fetch_change_list`, `fetch_change`, `fetch_history`) never touches the database; storing
(`store_change`) never touches the network. An exclusive `flock` on `<db>.refresh.lock` keeps a second refresh from
writing at the same time; the OS releases it when the process ends, however it ends.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
import sqlite_utils

from harvest import ctgov, http
from harvest.errors import HarvestError, NotFound, ParseError

from . import history, ingest, store
from .schema import open_db

CHUNK = ctgov.MAX_PAGE_SIZE
CHANGE_FIELDS = ["NCTId", "LastUpdatePostDate"]
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EXIT_LOCKED = 3
# The registry's record-history view: an undocumented internal endpoint (shape as used by the R package cthist).
HISTORY = http.Source("ClinicalTrials.gov unofficial history", "KB_CTGOV_HISTORY_URL",
                      "https://clinicaltrials.gov/api/int", 50 / 60)
STATE_LINES = {"gone": "no longer in the registry: registry_state = 'gone' (its rows are kept)",
               "alias": "now an alias of {alias_of}: registry_state = 'alias'",
               "current": "in the registry again: registry_state = 'current'"}


@dataclass
class Change:
    """What the registry now says about one tracked record: its state and, unless gone, the document to store."""

    nct_id: str
    state: str
    document: store.Document | None = None
    alias_of: str | None = None


@dataclass
class Summary:
    checked: int = 0
    changed: int = 0
    failed: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"refresh: {self.checked} checked, {self.changed} changed, {len(self.failed)} failed, "
                f"{self.requests} requests, {self.seconds:.1f} s")


class Locked(Exception):
    """Another refresh holds the lock of this database."""


class StopFlag:
    """Signal handler for SIGTERM/SIGINT: the refresh checks it between records and while waiting for the next run."""

    def __init__(self):
        self.signal: str | None = None

    def __call__(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, returning early once a stop is requested."""
        deadline = time.monotonic() + seconds
        while self.signal is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))


# --- fetch (network only) ------------------------------------------------------------------------------------------


def fetch_change_list(nct_ids: list[str]) -> dict[str, str | None]:
    """NCT ID → LastUpdatePostDate of every record the registry lists, one search per CHUNK IDs."""
    listed = {}
    for start in range(0, len(nct_ids), CHUNK):
        chunk = nct_ids[start:start + CHUNK]
        for page in ctgov.search(page_size=CHUNK, fields=CHANGE_FIELDS, filter_ids=",".join(chunk)):
            listed.update(parse_change_list(page.body))
    return listed


def parse_change_list(body: bytes | str) -> dict[str, str | None]:
    """NCT ID → last update posted for one fields-restricted search page; ParseError if it is not one.

    Dates go through `ctgov.parse_study`, the parser that fills `trials.last_update_posted`, so both compare alike.
    """
    page = ctgov.parse_search_page(body, "change list")
    if "studies" not in page:
        raise ParseError(ctgov.SOURCE.name, "change list", "search response has no list of studies")
    trials = (ctgov.parse_study(study, "change list")["trials"][0] for study in page["studies"])
    return {trial["nct_id"]: trial["last_update_posted"] for trial in trials}


def fetch_change(nct_id: str) -> Change:
    """Fetch and parse one record: `gone` on 404, `alias` when the registry answers with another NCT ID."""
    try:
        fetched = ctgov.fetch_study(nct_id)
    except NotFound:
        return Change(nct_id, "gone")
    document = ingest.study_document(fetched)
    actual = document.rows["trials"][0]["nct_id"]
    if actual == nct_id:
        return Change(nct_id, "current", document)
    document.snapshot = dataclasses.replace(fetched, key=actual)
    return Change(nct_id, "alias", document, alias_of=actual)


def fetch_history(nct_id: str) -> list[http.Fetched]:
    """UNOFFICIAL, best effort: the record-history index of `nct_id` and every version it lists.

    The registry documents no history API; this calls the internal endpoint behind its "History of Changes" page
    (`/api/int/studies/{id}?history=true` → `history.changes[].version`, `/api/int/studies/{id}/history/{n}` →
    `study`), as the R package cthist does. It may change or vanish without notice.
    """
    index = http.get(HISTORY, f"{nct_id}/history", f"/studies/{nct_id}", params={"history": "true"},
                     accept="application/json")
    numbers = [int(change["version"]) for change in _history_field(index, "history", "changes")]
    versions = [http.get(HISTORY, f"{nct_id}/history/{n}", f"/studies/{nct_id}/history/{n}",
                         accept="application/json") for n in numbers]
    for version in versions:
        if ctgov.study_nct_id(_history_field(version, "study")) != nct_id:
            raise ParseError(HISTORY.name, version.key, f"response holds no study {nct_id}")
    return [index, *versions]


def _history_field(fetched: http.Fetched, *path: str):
    """The value at `path` in a history response; ParseError if the (undocumented) shape is not as expected."""
    try:
        value = json.loads(fetched.body)
        for step in path:
            value = value[step]
        return value
    except (ValueError, KeyError, TypeError):
        raise ParseError(HISTORY.name, fetched.key, f"no {'.'.join(path)} in the response (the unofficial "
                                                    "endpoint may have changed)") from None


# --- store (database only) -----------------------------------------------------------------------------------------


def tracked_trials(db: sqlite_utils.Database) -> dict[str, tuple[str | None, str]]:
    """nct_id → (last_update_posted, registry_state) for every `trials` row."""
    rows = db.execute("select nct_id, last_update_posted, coalesce(registry_state, 'current') from trials "
                      "order by nct_id").fetchall()
    return {nct: (posted, state) for nct, posted, state in rows}


def records_to_fetch(tracked: dict[str, tuple[str | None, str]], listed: dict[str, str | None]) -> list[str]:
    """Tracked records whose listed date differs from the KB's, listed again after being gone or an alias, or
    current but no longer listed (fetching tells a removed record from an alias)."""
    return [nct for nct, (posted, state) in tracked.items()
            if (nct in listed and (listed[nct] != posted or state != "current"))
            or (nct not in listed and state == "current")]


@contextmanager
def _write_transaction(db: sqlite_utils.Database):
    """BEGIN IMMEDIATE … COMMIT: takes the write lock first, so another writer waits (busy_timeout) rather than
    failing halfway; any error or interruption rolls everything back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.commit()


def store_change(db: sqlite_utils.Database, change: Change) -> list[str]:
    """Write one record's change in one transaction; one log line per thing that changed (none if nothing did)."""
    with _write_transaction(db):
        stored = ingest.save_studies(db, [change.document]) if change.document else []
        moved = _set_state(db, change)
        touched = sorted(set(stored) | ({change.nct_id} if moved else set()))
        if touched:
            _after_change(db, touched)
        lines = [_version_line(db, nct) for nct in stored]
    if moved:
        lines.append(f"{change.nct_id}: " + STATE_LINES[change.state].format(alias_of=change.alias_of))
    return lines


def _set_state(db: sqlite_utils.Database, change: Change) -> bool:
    """Record the registry state of the tracked row; True if it changed."""
    values = [change.state, change.alias_of]
    cursor = db.execute("update trials set registry_state = ?, alias_of = ? where nct_id = ? "
                        "and (registry_state is not ? or alias_of is not ?)", [*values, change.nct_id, *values])
    return cursor.rowcount > 0


def _after_change(db: sqlite_utils.Database, nct_ids: list[str]) -> None:
    """Re-derive what depends on these trials (regimen, endpoints matches, checks), inside the transaction that
    changed them. (Imported here: the checks load scipy, which a refresh with nothing to do never needs.)"""
    from .derive import rederive

    rederive(db, nct_ids)


def _version_line(db: sqlite_utils.Database, nct_id: str) -> str:
    """The log line of the version just stored for `nct_id`."""
    version = history.latest_versions(db, [nct_id])[nct_id]
    if version["changed_fields"] is None:
        return f"{nct_id}: version {version['version']} stored (first observation)"
    paths = [change["path"] for change in json.loads(version["changed_fields"])]
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return (f"{nct_id}: version {version['version']} stored, {len(paths)} changed field(s): "
            f"{', '.join(paths[:5])}{more}")


# --- one run -------------------------------------------------------------------------------------------------------


def refresh_once(db: sqlite_utils.Database, stop: StopFlag, backfill: bool = False) -> Summary:
    """One refresh: the change list, then each changed record fetched and stored; failures collected, not raised."""
    started, requests_before = time.monotonic(), http.request_count
    summary = Summary()
    tracked = tracked_trials(db)
    try:
        listed = fetch_change_list(list(tracked))
    except HarvestError as exc:
        _fail(summary, f"change list of {len(tracked)} records: {exc.kind}: {exc.reason}; nothing fetched")
    else:
        summary.checked = len(tracked)
        _refresh_records(db, records_to_fetch(tracked, listed), stop, summary)
        if backfill:
            backfill_history(db, stop)
    summary.requests = http.request_count - requests_before
    summary.seconds = time.monotonic() - started
    return summary


def _refresh_records(db: sqlite_utils.Database, nct_ids: list[str], stop: StopFlag, summary: Summary) -> None:
    """Fetch then store each record in turn, stopping between two records once a stop is requested."""
    for nct in nct_ids:
        if stop.signal:
            return
        try:
            change = fetch_change(nct)
        except HarvestError as exc:
            _fail(summary, str(exc))
            continue
        lines = store_change(db, change)
        summary.changed += bool(lines)
        for line in lines:
            click.echo(line)


def _fail(summary: Summary, message: str) -> None:
    """List a failure in the summary and report it on stderr."""
    summary.failed.append(message)
    click.echo(f"kb: {message}", err=True)


def backfill_history(db: sqlite_utils.Database, stop: StopFlag) -> None:
    """Best effort: store, once per current trial, the versions the unofficial history view lists, as snapshots.

    A failure is a warning: the endpoint is undocumented, and the refresh itself does not depend on it.
    """
    done = {row["key"].removesuffix("/history")
            for row in db["snapshots"].rows_where("source = ? and key like '%/history'", [HISTORY.name], select="key")}
    for nct, (_, state) in tracked_trials(db).items():
        if stop.signal:
            return
        if state != "current" or nct in done:
            continue
        try:
            responses = fetch_history(nct)
        except HarvestError as exc:
            click.echo(f"kb: warning: history backfill (unofficial endpoint) skipped {nct}: {exc}", err=True)
            continue
        store.save(db, [store.Document(response, {}) for response in responses])
        click.echo(f"{nct}: {len(responses) - 1} registry versions stored from the unofficial history view")


# --- scheduling and the command ------------------------------------------------------------------------------------


@contextmanager
def refresh_lock(db_path: str):
    """Hold an exclusive flock on `<db>.refresh.lock` (the file keeps the holder's pid); Locked if it is taken."""
    path = Path(f"{db_path}.refresh.lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Locked(f"another refresh is writing to {db_path} (pid {handle.read().strip() or '?'} holds "
                         f"{path}); nothing done") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


@contextmanager
def stop_on_signals():
    """A StopFlag installed for SIGTERM and SIGINT while the block runs."""
    flag = StopFlag()
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def parse_interval(ctx, param, value: str | None) -> int | None:
    """'30s', '15m', '24h', '7d' → seconds (click callback; a bad value is a usage error)."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", value.lower())
    if not match or int(match[1]) == 0:
        raise click.BadParameter(f"{value!r}: expected a positive whole number and a unit s, m, h or d, e.g. 24h")
    return int(match[1]) * UNITS[match[2]]


@click.command()
@click.option("--db", "db_path", default="kb.db", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite file of the knowledge base.")
@click.option("--every", callback=parse_interval, metavar="INTERVAL",
              help="Keep running and refresh every INTERVAL (s/m/h/d, e.g. 24h); SIGTERM or SIGINT stops it "
                   "between records.")
@click.option("--backfill-history", "backfill", is_flag=True,
              help="UNOFFICIAL, best effort, off by default: also store each trial's earlier registry versions "
                   "from the record-history view, an undocumented internal ClinicalTrials.gov endpoint that may "
                   "change or vanish; fetched once per trial, failures are only warnings.")
def refresh(db_path, every, backfill):
    """Update tracked registry records, fetching only those that changed (exit 1 if some failed).

    Exit status: 0 nothing changed or every change stored, 1 some records failed (the others are stored),
    2 usage error, 3 another refresh holds the lock.

    Example: kb refresh --db kb.db --every 24h
    """
    if not Path(db_path).exists():
        _exit(f"no knowledge base at {db_path}: run `kb build` or `kb import` first", 2)
    try:
        with refresh_lock(db_path), stop_on_signals() as stop, open_db(db_path) as db:
            summary = _run(db, stop, every, backfill)
    except Locked as exc:
        _exit(str(exc), EXIT_LOCKED)
    sys.exit(1 if summary.failed and not every else 0)


def _run(db: sqlite_utils.Database, stop: StopFlag, every: int | None, backfill: bool) -> Summary:
    """One refresh, or (with `every`) one every `every` seconds until a stop is requested; the last summary."""
    while True:
        summary = refresh_once(db, stop, backfill)
        click.echo(summary.line())
        if not every or stop.signal:
            break
        next_run = datetime.now(timezone.utc) + timedelta(seconds=every)
        click.echo(f"refresh: next run at {next_run.isoformat(timespec='seconds')}")
        stop.sleep(every)
        if stop.signal:
            break
    if stop.signal:
        click.echo(f"refresh: stopped by {stop.signal}; records not reached are refreshed by the next run")
    return summary


def _exit(message: str, code: int):
    click.echo(f"kb: {message}", err=True)
    sys.exit(code)
