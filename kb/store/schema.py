"""The schema, declared as data and applied idempotently through sqlite-utils `Migrations`.

Table names are a contract (Datasette pages, canned queries and users' SQL rely on them): docs/architecture.md.
Each table lists its columns, primary key and indexes; `ensure_shape` creates what is missing and adds new columns,
at every open (additive changes need nothing more); a change that must rewrite data is a new migration below.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

from kb.store.access import refuse_empty

T, I, F, B = str, int, float, bytes  # noqa: E741  (column types, written short)

# name: (columns, primary key, indexed columns)
# Indexed: every column that joins (ids, snapshot_id) and every column Datasette pages sort or facet by
# (metadata.yml), so that a page of a KB of the whole registry reads an index rather than the table. A column that
# queries filter on together with the row's owner (`subject = ? AND source = ?`) is indexed after the owner, never
# alone: SQLite keeps no statistics here, and would take an index on `source` alone for a selective one, reading
# every trial's rows to find one trial's (a facet on it still reads the narrow index, not the table).
TABLES: dict[str, tuple[dict, tuple, list]] = {
    "snapshots": (
        {"id": T, "source": T, "key": T, "url": T, "fetched_at": T, "status": I, "content_type": T,
         "sha256": T, "size": I, "body": B},
        ("id",), [("source", "key"), "fetched_at", "content_type"],
    ),
    "trials": (
        {"nct_id": T, "org_study_id": T, "brief_title": T, "official_title": T, "acronym": T,
         "overall_status": T, "why_stopped": T, "study_type": T, "phase": T, "allocation": T,
         "intervention_model": T, "primary_purpose": T, "masking": T, "enrollment": I, "enrollment_type": T,
         "start_date": T, "start_date_type": T, "primary_completion_date": T, "primary_completion_date_type": T,
         "completion_date": T, "completion_date_type": T, "first_submitted": T, "first_posted": T,
         "last_update_submitted": T, "last_update_posted": T, "results_first_posted": T,
         "sponsor": T, "sponsor_class": T, "collaborators": T, "has_results": I,
         "brief_summary": T, "detailed_description": T, "eligibility_criteria": T, "sex": T,
         "minimum_age": T, "maximum_age": T, "healthy_volunteers": I, "std_ages": T,
         "registry_state": T, "alias_of": T, "snapshot_id": T},
        # (nct_id, snapshot_id): which body each trial has, read by the stale query (kb/store/derived.py) without
        # reading the trials' rows and their long texts
        ("nct_id",), ["overall_status", "phase", "study_type", "snapshot_id", "last_update_posted", "has_results",
                      "alias_of", ("nct_id", "snapshot_id")],
    ),
    "trial_versions": (
        {"nct_id": T, "version": I, "observed_at": T, "last_update_posted": T, "sha256": T, "snapshot_id": T,
         "changed_fields": T},
        ("nct_id", "version"), ["observed_at", "snapshot_id"],
    ),
    "conditions": ({"nct_id": T, "position": I, "condition": T, "path": T}, ("nct_id", "position"), ["condition"]),
    "keywords": ({"nct_id": T, "position": I, "keyword": T, "path": T}, ("nct_id", "position"), ["keyword"]),
    "arms": (
        {"nct_id": T, "position": I, "label": T, "type": T, "description": T, "path": T},
        ("nct_id", "position"), ["type"],
    ),
    "interventions": (
        {"nct_id": T, "position": I, "type": T, "name": T, "description": T, "other_names": T, "path": T},
        ("nct_id", "position"), ["name", "type"],
    ),
    "arm_interventions": (
        {"nct_id": T, "arm_label": T, "intervention": T, "path": T},
        ("nct_id", "arm_label", "intervention"), [],
    ),
    "locations": (
        {"nct_id": T, "position": I, "facility": T, "city": T, "state": T, "country": T, "status": T, "path": T},
        ("nct_id", "position"), ["country", "status"],
    ),
    "trial_references": (
        {"nct_id": T, "position": I, "pmid": T, "type": T, "citation": T, "path": T},
        ("nct_id", "position"), ["pmid", "type"],
    ),
    "secondary_ids": (
        {"nct_id": T, "position": I, "secondary_id": T, "type": T, "domain": T, "link": T, "path": T},
        ("nct_id", "position"), ["secondary_id", "type"],
    ),
    "sponsors": (
        {"nct_id": T, "role": T, "position": I, "name": T, "class": T, "path": T},
        ("nct_id", "role", "position"), ["name", "class", "role"],
    ),
    "mesh_terms": (
        {"nct_id": T, "kind": T, "relation": T, "position": I, "mesh_id": T, "browse_id": T, "term": T,
         "relevance": T, "as_found": T, "path": T},
        ("nct_id", "kind", "relation", "position"), ["kind", "relation", "mesh_id", "term"],
    ),
    "countries": (
        {"nct_id": T, "country": T, "removed": I, "path": T},
        ("nct_id", "country", "removed"), ["country", "removed"],
    ),
    "endpoints": (
        {"id": T, "subject": T, "source": T, "kind": T, "position": I, "measure": T, "description": T,
         "time_frame": T, "matched_to": T, "snapshot_id": T, "path": T, "span_start": I, "span_end": I,
         "source_text": T},
        ("id",), [("subject", "source", "kind"), "matched_to", "snapshot_id"],
    ),
    "results": (
        {"id": T, "subject": T, "source": T, "kind": T, "measure": T, "group": T, "category": T,
         "timepoint": T, "n": I, "k": T, "pairing": T, "statistic": T, "value": T, "value_num": F, "decimals": I,
         "dispersion_type": T, "dispersion": T, "lower": T, "upper": T, "ci_pct": T, "ci_sides": T, "unit": T,
         "p_text": T, "p_relation": T, "p_value": F, "method": T, "groups_compared": T, "role": T, "pair": I,
         "snapshot_id": T, "path": T, "span_start": I, "span_end": I, "source_text": T, "sentence_start": I},
        ("id",), [("subject", "source", "kind"), "statistic", "snapshot_id"],
    ),
    "baseline_measurements": (
        {"id": T, "nct_id": T, "measure": T, "param_type": T, "dispersion_type": T, "unit": T, "class": T,
         "category": T, "group_id": T, "group": T, "value": T, "spread": T, "lower": T, "upper": T, "path": T},
        ("id",), [("nct_id", "param_type"), "measure"],
    ),
    "adverse_events": (
        {"id": T, "nct_id": T, "seriousness": T, "term": T, "organ_system": T, "group_id": T, "group": T,
         "num_events": I, "num_affected": I, "num_at_risk": I, "path": T},
        ("id",), ["nct_id", "term", "num_affected", "seriousness", "organ_system"],
    ),
    "participant_flow": (
        {"id": T, "nct_id": T, "period": T, "kind": T, "type": T, "group_id": T, "group": T, "count": T,
         "path": T},
        ("id",), ["nct_id", "kind", "type"],
    ),
    "articles": (
        {"article_id": T, "pmid": T, "pmcid": T, "doi": T, "title": T, "journal": T, "journal_iso": T,
         "issn": T, "year": I, "volume": T, "issue": T, "pages": T, "pub_date": T, "epub_date": T,
         "language": T, "publication_types": T, "mesh": T, "keywords": T, "accessions": T, "license": T,
         "abstract": T, "open_access": I, "full_text_url": T, "titles": T, "abstracts": T, "other_ids": T,
         "sources": T, "field_sources": T},
        ("article_id",), ["pmid", "doi", "pmcid", "year", "journal", "language"],
    ),
    "abstract_sections": (
        {"article_id": T, "position": I, "label": T, "category": T, "text": T, "span_start": I, "span_end": I,
         "snapshot_id": T, "path": T},
        ("article_id", "position"), ["label", "snapshot_id"],
    ),
    "authors": (
        {"author_id": T, "family": T, "given": T, "initials": T, "display_name": T, "orcid": T,
         "collective": I, "identifiers": T},
        ("author_id",), ["family", "orcid"],
    ),
    "affiliations": (
        {"affiliation_id": T, "name": T, "department": T, "institution": T, "country": T},
        ("affiliation_id",), ["institution", "country"],
    ),
    "article_authors": (
        {"article_id": T, "author_id": T, "position": I, "sources": T},
        ("article_id", "author_id"), ["author_id"],
    ),
    "author_affiliations": (
        {"article_id": T, "author_id": T, "affiliation_id": T, "sources": T},
        ("article_id", "author_id", "affiliation_id"), ["author_id", "affiliation_id"],
    ),
    "article_trials": (
        {"article_id": T, "nct_id": T, "evidence": T, "snapshot_id": T, "path": T},
        # (nct_id, article_id): a trial's articles, each once and in order, for the stale query (kb/store/derived.py)
        ("article_id", "nct_id", "evidence"), [("nct_id", "evidence"), "snapshot_id", ("nct_id", "article_id")],
    ),
    "article_sources": (
        {"article_id": T, "source": T, "snapshot_id": T, "fields": T},
        ("article_id", "source"), ["snapshot_id"],
    ),
    "article_disagreements": (
        {"article_id": T, "field": T, "values": T},
        ("article_id", "field"), [],
    ),
    # The full text of an article (JATS): its body's sections, tables with their resolved cells, and figure captions.
    "article_sections": (
        {"article_id": T, "position": I, "headings": T, "text": T, "span_start": I, "span_end": I, "snapshot_id": T,
         "path": T},
        ("article_id", "position"), ["snapshot_id"],
    ),
    "article_tables": (
        {"id": T, "article_id": T, "position": I, "label": T, "caption": T, "footnotes": T, "snapshot_id": T,
         "path": T},
        ("id",), [("article_id", "position"), "snapshot_id"],
    ),
    "table_cells": (
        {"table_id": T, "article_id": T, "row": I, "col": I, "rowspan": I, "colspan": I, "header": I,
         "column_headers": T, "row_headers": T, "text": T, "value_num": F, "decimals": I},
        ("table_id", "row", "col"), ["article_id"],
    ),
    "article_figures": (
        {"article_id": T, "position": I, "label": T, "caption": T, "snapshot_id": T, "path": T},
        ("article_id", "position"), ["snapshot_id"],
    ),
    "regimen": (
        {"id": T, "subject": T, "source": T, "drug": T, "dose": T, "dose_num": F, "unit": T, "form": T, "route": T,
         "frequency": T, "doses_per_week": F, "days": T, "days_list": T, "cycles": T, "n_cycles": I,
         "cycle_length_days": I, "doses_per_cycle": F, "dose_per_cycle": F, "drug_course_total": F,
         "snapshot_id": T, "path": T, "span_start": I, "span_end": I, "source_text": T},
        ("id",), [("subject", "source"), "drug", "unit", "snapshot_id"],
    ),
    "checks": (
        {"id": T, "subject": T, "kind": T, "inputs": T, "reported": T, "recomputed": T, "methods_fit": T,
         "verdict": T, "decision_error": I, "detail": T, "uses": T},
        ("id",), ["subject", "verdict", "kind", "decision_error"],
    ),
    # Computed by derive (kb/derive/endpoint_comparison.py): registry endpoints beside the publication endpoints.
    "endpoint_comparison": (
        {"nct_id": T, "status": T, "registry_kind": T, "registry_measure": T, "registry_time_frame": T,
         "article_id": T, "publication_kind": T, "publication_measure": T, "publication_time_frame": T,
         "publication_sentence": T, "registry_position": I, "registry_endpoint": T, "publication_endpoint": T},
        (), ["nct_id", "status", "registry_kind"],
    ),
    # Written by derive with the rows above (kb/store/derived.py): what each subject's derived rows were computed
    # from; a subject without a row here, or whose inputs changed since, is stale and derived by the next run.
    "derived": (
        {"subject": T, "kind": T, "derived_from": T, "version": T},
        ("subject",), [],
    ),
}

# Indexes on expressions, declared as SQL (name: (table, what follows `ON table`)), for queries that order by
# expressions: the inconsistencies query (metadata.yml) reads the checks that are not consistent in its own order,
# so that a page stops after the rows it shows rather than sorting every such check first.
EXPRESSION_INDEXES = {
    "idx_checks_not_consistent": ("checks", "(verdict != 'inconsistent', decision_error IS NOT 1, subject, kind, id) "
                                            "WHERE verdict != 'consistent'"),
}

FTS = {
    "articles": ["title", "abstract"],
    "trials": ["brief_title", "official_title", "brief_summary"],
    "endpoints": ["measure", "description"],
    "article_sections": ["headings", "text"],
}

# Tables whose rows belong to one registry record, by its NCT ID (a study document replaces them whole).
STUDY_TABLES = ("conditions", "keywords", "arms", "interventions", "arm_interventions", "locations", "trial_references",
                "secondary_ids", "sponsors", "mesh_terms", "countries",
                "baseline_measurements", "adverse_events", "participant_flow")

# Foreign keys (column, other table, other column), declared on new tables so that Datasette links each id to its row
# and shows its label; SQLite does not enforce them (PRAGMA foreign_keys stays off), so load order does not matter.
_SNAPSHOT, _TRIAL, _ARTICLE = ("snapshot_id", "snapshots", "id"), ("nct_id", "trials", "nct_id"), \
    ("article_id", "articles", "article_id")
FOREIGN_KEYS: dict[str, list[tuple[str, str, str]]] = {
    "trials": [_SNAPSHOT, ("alias_of", "trials", "nct_id")],
    "trial_versions": [_TRIAL, _SNAPSHOT],
    **{name: [_TRIAL] for name in STUDY_TABLES},
    "endpoints": [_SNAPSHOT, ("matched_to", "endpoints", "id")],
    "results": [_SNAPSHOT],
    "regimen": [_SNAPSHOT],
    "abstract_sections": [_ARTICLE, _SNAPSHOT],
    "article_authors": [_ARTICLE, ("author_id", "authors", "author_id")],
    "author_affiliations": [_ARTICLE, ("author_id", "authors", "author_id"),
                            ("affiliation_id", "affiliations", "affiliation_id")],
    "article_trials": [_ARTICLE, _TRIAL, _SNAPSHOT],
    "article_sources": [_ARTICLE, _SNAPSHOT],
    "article_disagreements": [_ARTICLE],
    "article_sections": [_ARTICLE, _SNAPSHOT],
    "article_tables": [_ARTICLE, _SNAPSHOT],
    "table_cells": [("table_id", "article_tables", "id"), _ARTICLE],
    "article_figures": [_ARTICLE, _SNAPSHOT],
}

migrations = Migrations("trial-kb")


@migrations()
def m001_tables(db: sqlite_utils.Database) -> None:
    """Create every table, index and full-text index declared above."""
    ensure_shape(db)


@migrations()
def m003_computed_tables(db: sqlite_utils.Database) -> None:
    """endpoint_comparison was a view (created by a migration m002 of earlier versions), computed whole on every
    query; it becomes a table of computed rows, filled here by derive's query (imported here only: the one data
    migration that needs a derive step)."""
    from kb.derive.endpoint_comparison import refresh_endpoint_comparison

    if "endpoint_comparison" in db.view_names():
        db.execute("DROP VIEW endpoint_comparison")
    ensure_shape(db)
    refresh_endpoint_comparison(db)


# Parts of a registry record added as tables after records were stored; m004 fills them from the stored responses.
REGISTRY_TABLES_OF_M004 = ("secondary_ids", "sponsors", "mesh_terms", "countries")


@migrations()
def m004_registry_tables(db: sqlite_utils.Database) -> None:
    """secondary_ids, sponsors, mesh_terms and countries are new tables of parts of a registry record: filled here for
    the trials already stored, from the response each was read from (its snapshot), with the registry's own parser
    (imported here only), since importing a response the KB has seen changes nothing. A snapshot that no longer
    parses is left as it is (its trial gets no rows in these tables)."""
    from harvest.errors import ParseError
    from harvest.registries import ctgov

    ensure_shape(db)
    trials = db.execute("SELECT nct_id, snapshot_id FROM trials WHERE snapshot_id IS NOT NULL ORDER BY nct_id")
    pending = trials.fetchall()
    for start in range(0, len(pending), 500):
        chunk = pending[start:start + 500]
        rows: dict[str, list[dict]] = {table: [] for table in REGISTRY_TABLES_OF_M004}
        for nct, snapshot in chunk:
            body = db.execute("SELECT body FROM snapshots WHERE id = ?", [snapshot]).fetchone()
            try:
                record = ctgov.parse_study(body[0], nct) if body else None
            except ParseError:
                record = None
            if record and record["nct_id"] == nct:
                for table in REGISTRY_TABLES_OF_M004:
                    rows[table] += record[table]
        for table, table_rows in rows.items():
            db.conn.executemany(f"DELETE FROM [{table}] WHERE nct_id = ?", [(nct,) for nct, _ in chunk])
            if table_rows:
                db[table].insert_all(table_rows, pk=TABLES[table][1])


def ensure_shape(db: sqlite_utils.Database) -> None:
    """Create missing tables (with their foreign keys), columns, indexes and full-text indexes; never drops
    a table or a column."""
    for name, (columns, pk, indexes) in TABLES.items():
        table = db[name]
        if not table.exists():
            table.create(columns, pk=pk[0] if len(pk) == 1 else pk, foreign_keys=FOREIGN_KEYS.get(name))
        else:
            for column, kind in columns.items():
                if column not in table.columns_dict:
                    table.add_column(column, kind)
        for index in indexes:
            table.create_index([index] if isinstance(index, str) else list(index), if_not_exists=True)
    for name, (table, sql) in EXPRESSION_INDEXES.items():
        db.execute(f"CREATE INDEX IF NOT EXISTS [{name}] ON [{table}] {sql}")
    for name, columns in FTS.items():  # created, or rebuilt when its triggers are missing (an interrupted bulk load)
        db[name].enable_fts(columns, create_triggers=True, tokenize="porter", replace=True)


def pending_upgrade(db: sqlite_utils.Database) -> tuple[list[str], list[str]]:
    """What opening the KB at `db` for writing would change, found by reading only: (what its pages need:
    migrations, tables, columns; what only makes them slower or search stale: indexes, full-text indexes and their
    triggers, which an interrupted bulk load sets aside)."""
    needed = [f"migration {migration.name}" for migration in migrations.pending(db)]
    slower = []
    for name, (columns, _, indexes) in TABLES.items():
        table = db[name]
        if not table.exists():
            needed.append(f"table {name}")
            continue
        needed += [f"column {name}.{column}" for column in columns if column not in table.columns_dict]
        present = {tuple(index.columns) for index in table.indexes}
        slower += [f"index on {name}({', '.join(i)})" for i in ((i,) if isinstance(i, str) else tuple(i)
                                                                for i in indexes) if i not in present]
    existing = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    slower += [f"index {name}" for name in EXPRESSION_INDEXES if name not in existing]
    for name in FTS:
        if not db[f"{name}_fts"].exists():
            needed.append(f"full-text table {name}_fts")
        elif {f"{name}_ai", f"{name}_ad", f"{name}_au"} - {trigger.name for trigger in db[name].triggers}:
            slower.append(f"full-text triggers of {name}")
    return needed, slower


def open_db(path: str) -> sqlite_utils.Database:
    """Open (or create) the KB at `path` in WAL mode, with every migration applied and every declared column
    (an empty file is refused: `access.refuse_empty`)."""
    refuse_empty(path)
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("PRAGMA busy_timeout = 30000")
    migrations.apply(db)
    ensure_shape(db)
    return db
