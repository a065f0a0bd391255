"""From harvested responses to stored documents: parse, attach provenance and history, save."""

from __future__ import annotations

import sqlite_utils

from harvest import ctgov
from harvest.http import Fetched

from . import history, store
from .checks.intervals import P_DOMAIN, Reported
from .identity import article_id

# Tables whose rows a study document owns entirely, by NCT ID.
STUDY_TABLES = ("conditions", "keywords", "arms", "interventions", "arm_interventions", "locations",
                "trial_references", "baseline_measurements", "adverse_events", "participant_flow")


def study_document(fetched: Fetched, decoded: dict | None = None) -> store.Document:
    """A ClinicalTrials.gov response as a Document (ParseError if it is not a study); `decoded` is its body
    already decoded, if the caller has it (a bulk import then decodes each study once)."""
    rows = ctgov.parse_study(fetched.body if decoded is None else decoded, fetched.key)
    nct = rows["trials"][0]["nct_id"]
    rows["results"] = [number_columns(row) for row in rows["results"]]
    rows["article_trials"] = [
        {"article_id": article_id(pmid=ref["pmid"]), "nct_id": nct, "evidence": "registry reference",
         "path": ref["path"]}
        for ref in rows["trial_references"] if ref["pmid"]
    ]
    return store.Document(fetched, rows, study_scopes(nct))


def study_scopes(nct: str) -> dict[str, dict]:
    """The rows a study document of `nct` replaces, per table."""
    scopes = {table: {"nct_id": nct} for table in STUDY_TABLES}
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


def save_studies(db: sqlite_utils.Database, documents: list[store.Document]) -> list[str]:
    """Store study documents, with a `trial_versions` row for each new or changed record; returns the NCT IDs stored.

    A document is skipped when the KB has seen its body before (in any version of that trial) or holds a version
    the registry posted later (`last_update_posted`): re-importing a file, or importing an older download, changes
    nothing. Documents are written in runs without a repeated NCT ID (one transaction each), so that a file holding
    two versions of a record stores both, in file order, each replacing every row of the one before.
    """
    stored = []
    for run in _runs_without_repeats(documents):
        stored += _save_run(db, run)
    return stored


def _runs_without_repeats(documents: list[store.Document]) -> list[list[store.Document]]:
    runs, seen = [[]], set()
    for doc in documents:
        nct = doc.rows["trials"][0]["nct_id"]
        if nct in seen:
            runs.append([])
            seen.clear()
        runs[-1].append(doc)
        seen.add(nct)
    return [run for run in runs if run]


def _save_run(db: sqlite_utils.Database, documents: list[store.Document]) -> list[str]:
    nct_ids = [doc.rows["trials"][0]["nct_id"] for doc in documents]
    latest, known = history.latest_versions(db, nct_ids), history.known_bodies(db, nct_ids)
    changed = []
    for nct, doc in zip(nct_ids, documents):
        previous, posted = latest.get(nct), doc.rows["trials"][0]["last_update_posted"]
        snapshot = store.snapshot_row(doc.snapshot)
        if (nct, snapshot["sha256"]) in known or _older(posted, previous):
            continue
        doc.rows["trial_versions"] = [history.next_version(db, previous, nct, doc.snapshot.body, snapshot, posted)]
        changed.append(doc)
    store.save(db, changed)
    return [doc.rows["trials"][0]["nct_id"] for doc in changed]


def _older(posted: str | None, previous: dict | None) -> bool:
    """True when the registry posted the stored version after `posted` (dates compare as ISO text)."""
    return bool(posted and previous and previous["last_update_posted"] and posted < previous["last_update_posted"])
