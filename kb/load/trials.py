"""Registry records into the KB: a `StudyRecord` becomes table rows with KB ids, and `save_studies` is the one save
path of a study, whether it was fetched (`kb build`, `kb refresh`) or read from a file (`kb import`).

Rows get their KB ids here (`<NCT>/registry/<path>` for endpoints and results, `<NCT>/<path>` for the rest of a
results section), registry numbers get their numeric columns from the one reported-number parser (`kb.numbers`), and
every PMID the record cites becomes an `article_trials` link.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from harvest.http import Fetched
from harvest.records import StudyRecord
from harvest.registries import ctgov
from kb.numbers import P_DOMAIN, Reported
from kb.store import documents, history
from kb.store.identity import article_id
from kb.store.schema import STUDY_TABLES

# The tables a study document owns entirely, by NCT ID, and the StudyRecord part each is made of.
OWNED = {table: {"trial_references": "references", "baseline_measurements": "baseline"}.get(table, table)
         for table in STUDY_TABLES}
WITH_ID = ("baseline_measurements", "adverse_events", "participant_flow")  # rows keyed by `<NCT>/<path>`
# What storing one record can raise because of that record (text with a lone surrogate, a number SQLite cannot
# hold): the record fails alone. Errors of the storage itself (disk full, locked) are not among them.
RECORD_ERRORS = (ValueError, TypeError, OverflowError, RecursionError, sqlite3.IntegrityError, sqlite3.DataError,
                 sqlite3.InterfaceError)


def study_document(fetched: Fetched, decoded: dict | None = None) -> documents.Document:
    """A ClinicalTrials.gov response as a Document (ParseError if it is not a study); `decoded` is its body
    already decoded, if the caller has it (a bulk import then decodes each study once)."""
    record = ctgov.parse_study(fetched.body if decoded is None else decoded, fetched.key)
    return documents.Document(fetched, study_rows(record), study_scopes(record["nct_id"]))


def study_rows(record: StudyRecord) -> dict[str, list[dict]]:
    """The rows of every table a study fills."""
    nct = record["nct_id"]
    registry = {"subject": nct, "source": "registry"}
    rows = {table: record[part] for table, part in OWNED.items()}
    for table in WITH_ID:
        rows[table] = [{"id": f"{nct}/{row['path']}", **row} for row in rows[table]]
    rows["trials"] = [{**record["trial"], "registry_state": "current"}]
    rows["endpoints"] = [{"id": f"{nct}/registry/{row['path']}", **registry, **_without_nct(row)}
                         for row in record["outcomes"]]
    rows["results"] = [number_columns({"id": f"{nct}/registry/{row['path']}", **registry, **_without_nct(row)})
                       for row in record["outcome_results"]]
    rows["article_trials"] = [
        {"article_id": article_id(pmid=ref["pmid"]), "nct_id": nct, "evidence": "registry reference",
         "path": ref["path"]}
        for ref in record["references"] if ref["pmid"]
    ]
    return rows


def _without_nct(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "nct_id"}


def study_scopes(nct: str) -> dict[str, dict]:
    """The rows a study document of `nct` replaces, per table."""
    scopes = {table: {"nct_id": nct} for table in OWNED}
    return scopes | {"endpoints": {"subject": nct, "source": "registry"},
                     "results": {"subject": nct, "source": "registry"},
                     "article_trials": {"nct_id": nct, "evidence": "registry reference"}}


def number_columns(row: dict) -> dict:
    """`row` with value_num, decimals, p_relation and p_value read from its texts (None where not a number)."""
    value = Reported.parse(row["value"]) if row.get("value") is not None else None
    p = Reported.parse(row["p_text"], domain=P_DOMAIN) if row.get("p_text") is not None else None
    return {**row,
            "value_num": value.value if value else None, "decimals": value.decimals if value else None,
            "p_relation": p.relation if p else None, "p_value": p.value if p else None}


def save_studies(db: sqlite_utils.Database, docs: list[documents.Document]) -> list[str]:
    """Store study documents, with a `trial_versions` row for each new or changed record; returns the NCT IDs stored.

    A document is skipped when the KB has seen its body before (in any version of that trial) or holds a version
    the registry posted later (`last_update_posted`): re-importing a file, or importing an older download, changes
    nothing. Documents are written in runs without a repeated NCT ID (one transaction each), so that a file holding
    two versions of a record stores both, in file order, each replacing every row of the one before.
    """
    stored = []
    for run in _runs_without_repeats(docs):
        stored += _save_run(db, run)
    return stored


def save_each(db: sqlite_utils.Database, named: list[tuple[str, documents.Document]]) -> tuple[list[str], list[str]]:
    """`save_studies` of the documents of `named` ((name, document) pairs) in one transaction; if one of them cannot
    be stored, each is saved in its own. Returns the NCT IDs stored and a line for each document that failed."""
    try:
        with db.atomic():
            return save_studies(db, [doc for _, doc in named]), []
    except RECORD_ERRORS:
        pass
    stored, failed = [], []
    for name, doc in named:
        try:
            stored += save_studies(db, [doc])
        except RECORD_ERRORS as exc:
            failed.append(f"{doc.snapshot.source} {name}: cannot be stored ({type(exc).__name__}: {str(exc)[:200]})")
    return stored, failed


def _nct(doc: documents.Document) -> str:
    return doc.rows["trials"][0]["nct_id"]


def _runs_without_repeats(docs: list[documents.Document]) -> list[list[documents.Document]]:
    runs, seen = [[]], set()
    for doc in docs:
        if _nct(doc) in seen:
            runs.append([])
            seen.clear()
        runs[-1].append(doc)
        seen.add(_nct(doc))
    return [run for run in runs if run]


def _save_run(db: sqlite_utils.Database, docs: list[documents.Document]) -> list[str]:
    nct_ids = [_nct(doc) for doc in docs]
    latest, known = history.latest_versions(db, nct_ids), history.known_bodies(db, nct_ids)
    changed = []
    for nct, doc in zip(nct_ids, docs):
        previous, posted = latest.get(nct), doc.rows["trials"][0]["last_update_posted"]
        snapshot = documents.snapshot_row(doc.snapshot)
        if (nct, snapshot["sha256"]) in known or _older(posted, previous):
            continue
        doc.rows["trial_versions"] = [history.next_version(db, previous, nct, doc.snapshot.body, snapshot, posted)]
        changed.append(doc)
    documents.save(db, changed)
    return [_nct(doc) for doc in changed]


def _older(posted: str | None, previous: dict | None) -> bool:
    """True when the registry posted the stored version after `posted` (dates compare as ISO text)."""
    return bool(posted and previous and previous["last_update_posted"] and posted < previous["last_update_posted"])


# --- registry state, for refresh ---------------------------------------------------------------------------------


def tracked_trials(db: sqlite_utils.Database) -> dict[str, tuple[str | None, str]]:
    """nct_id → (last_update_posted, registry_state) for every `trials` row."""
    rows = db.execute("select nct_id, last_update_posted, coalesce(registry_state, 'current') from trials "
                      "order by nct_id").fetchall()
    return {nct: (posted, state) for nct, posted, state in rows}


def records_to_fetch(tracked: dict[str, tuple[str | None, str]], listed: dict[str, str | None],
                     every_id_listed: bool = True) -> list[str]:
    """Tracked records whose listed date differs from the KB's, listed again after being gone or an alias, or (when
    the list asked for every tracked ID, not for the records posted since a date) current but no longer listed
    (fetching tells a removed record from an alias)."""
    return [nct for nct, (posted, state) in tracked.items()
            if (nct in listed and (listed[nct] != posted or state != "current"))
            or (every_id_listed and nct not in listed and state == "current")]


def set_state(db: sqlite_utils.Database, nct_id: str, state: str, alias_of: str | None) -> bool:
    """Record the registry state of a tracked trial (`current`, `gone`, `alias`); True if it changed."""
    values = [state, alias_of]
    cursor = db.execute("update trials set registry_state = ?, alias_of = ? where nct_id = ? "
                        "and (registry_state is not ? or alias_of is not ?)", [*values, nct_id, *values])
    return cursor.rowcount > 0
