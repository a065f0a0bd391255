"""The contract every source's parser returns: plain, typed records that name no KB table and carry no KB id.

An article source's `parse(body, key)` returns a list of `ArticleRecord`; the registry's `parse_study` returns one
`StudyRecord`. Every part keeps `path`, the place in the response it was read from, so that whatever the KB derives
from it can point back at the response (kept as a snapshot) and the place in it.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Ids(TypedDict):
    """An article's identifiers as the source gives them, normalised (None when the source does not know one)."""

    pmid: str | None
    doi: str | None
    pmcid: str | None


class Author(TypedDict):
    """One author as a source lists it. `name` holds a name the source does not split (J-STAGE, CiNii: "Suichi
    Tomoki") or a collective name; `family`/`given` are set only when the source says which part is which.
    `ids` holds further author identifiers the source gives (e.g. {"nrid": "1000012345678"})."""

    family: str | None
    given: str | None
    initials: str | None
    name: str | None
    collective: bool
    orcid: str | None
    affiliations: list[str]
    path: str
    identifiers: NotRequired[dict[str, str]]


class Section(TypedDict, total=False):
    """One part of an abstract: its label ("Methods", or None), NLM category, plain text, and place."""

    label: str | None
    category: str | None
    text: str
    path: str


class TrialLink(TypedDict):
    """A registry number the source states for the article, and how (databank, crossref, ...)."""

    nct_id: str
    evidence: str
    path: str


class ArticleRecord(TypedDict, total=False):
    """One source's description of one article.

    `fields` holds bibliographic values (title, journal, journal_iso, issn, volume, issue, pages, pub_date, year,
    epub_date, language, publication_types, mesh, keywords, accessions, license, open_access, full_text_url), each
    only when the source gives it, and, for sources that give several languages, `titles` and `abstracts`
    ({language: text}; `title` and `sections` then hold the English one, else the first). `other_ids` holds article
    identifiers beyond PMID/DOI/PMCID, by scheme ({"naid": ..., "crid": ..., "ndl": ...}). `landing_url` is where
    the article's page is (used to find the publisher's page). `full_text` is set by a source that gives the
    article's full text (JATS).
    """

    source: str
    path: str
    ids: Ids
    fields: dict
    sections: list[Section]
    authors: list[Author]
    trials: list[TrialLink]
    other_ids: dict[str, str]
    landing_url: str | None
    full_text: FullTextRecord


class StudyRecord(TypedDict):
    """One ClinicalTrials.gov study. `trial` holds the record's scalar facts; every list holds dicts with the
    record's `nct_id`, the item's `position` or JSON path (`path`) and its values as the registry writes them.

    `sponsors` holds the lead sponsor and each collaborator (`trial` keeps them as `sponsor`, `sponsor_class` and
    `collaborators` too); `mesh_terms` the derived browse modules of conditions and interventions (MeSH terms and
    their ancestors, the site's browse leaves and branches); `countries` those of the locations, once each, and
    those the registry lists as removed."""

    nct_id: str
    trial: dict
    conditions: list[dict]
    keywords: list[dict]
    arms: list[dict]
    interventions: list[dict]
    arm_interventions: list[dict]
    locations: list[dict]
    references: list[dict]
    outcomes: list[dict]
    outcome_results: list[dict]
    baseline: list[dict]
    adverse_events: list[dict]
    participant_flow: list[dict]
    secondary_ids: list[dict]
    sponsors: list[dict]
    mesh_terms: list[dict]
    countries: list[dict]


class BodySection(TypedDict):
    """One section of an article's full text: its heading path from the outermost section in (["Results",
    "Primary endpoint"]), its own paragraphs' plain text, where that text sits in the document's plain text
    (`start`, `end`, characters) and its place in the XML (`path`)."""

    headings: list[str]
    text: str
    start: int
    end: int
    path: str


class TableCell(TypedDict):
    """One cell of a full-text table once spanning cells are resolved: a cell spanning k rows or columns is given once,
    at its top-left `row`/`col` (0-based, header rows first), with `rowspan`/`colspan`. `header` is true for cells of
    the table's head (or marked as headers); `column_headers` holds the texts of the header cells above the cell,
    outermost first, and `row_headers` the label of the group of rows it sits in (a row with text only in its first
    column), then the stub cell and `<th>` cells left of it (both empty for header cells). `text` is the
    cell's plain text as printed."""

    row: int
    col: int
    rowspan: int
    colspan: int
    header: bool
    column_headers: list[str]
    row_headers: list[str]
    text: str


class ArticleTable(TypedDict):
    """One table of an article's full text: its label ("Table 2"), caption, footnotes, `position` among the
    tables (0-based), cells, and its place in the XML (`path`)."""

    label: str | None
    caption: str | None
    footnotes: list[str]
    position: int
    cells: list[TableCell]
    path: str


class FullTextRecord(TypedDict):
    """The full text of one article (JATS): the article's identifiers, sections, tables and figure captions
    ([{"label", "caption", "path"}]), as the source gives them."""

    source: str
    ids: Ids
    sections: list[BodySection]
    tables: list[ArticleTable]
    figures: list[dict]
