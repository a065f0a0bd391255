"""Crossref REST API: fetch `/works/{doi}` in the polite pool and parse it into an article record.

The polite pool wants a contact: `mailto` (KB_CONTACT_EMAIL) is sent with every request and never stored. The record
has the shape described in `harvest.pubmed`, plus `landing_url`, the page the DOI resolves to (used to find the
J-STAGE page).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

from harvest import http
from harvest.errors import ParseError
from harvest.identifiers import nct_in_field, normalize_doi, valid_or_none
from harvest.parsing import (
    abstract_sections,
    as_text,
    decode_json,
    iso_date,
    items,
    obj,
    page_range,
    plain_text,
    strings,
)
from harvest.records import ArticleRecord, Ids

SOURCE = http.Source("Crossref", "KB_CROSSREF_URL", "https://api.crossref.org", 5)


def fetch(doi: str) -> http.Fetched:
    """GET /works/{doi} (validated first); NotFound on Crossref's 404."""
    doi = normalize_doi(doi)
    params = {"mailto": http.contact_email()} if http.contact_email() else None
    return http.get(SOURCE, doi, f"/works/{quote(doi, safe='/')}", params=params, accept="application/json")


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """The work of the article's DOI (nothing without one)."""
    if ids["doi"]:
        yield fetch(ids["doi"])


def looks_like(head: bytes) -> bool:
    """A `/works/{doi}` response."""
    return head.startswith(b"{") and re.search(rb'"message-type"\s*:\s*"work"', head) is not None


def parse(body: bytes | str, key: str = "work") -> list[ArticleRecord]:
    """The article record of a `/works/{doi}` response (a list of one); ParseError if it is not a work."""
    doc = decode_json(body, SOURCE.name, key)
    message = obj(obj(doc).get("message"))
    doi = valid_or_none(normalize_doi, as_text(message.get("DOI")))
    if obj(doc).get("message-type") != "work" or doi is None:
        raise ParseError(SOURCE.name, key, "JSON is not a Crossref work (no message-type 'work' with a DOI)")
    pub_date = _date(message.get("published-print")) or _date(message.get("issued"))
    return [{
        "source": SOURCE.name,
        "path": "message",
        "ids": {"pmid": None, "doi": doi, "pmcid": None},
        "fields": {
            "title": _first(message.get("title")),
            "journal": _first(message.get("container-title")),
            "journal_iso": _first(message.get("short-container-title")),
            "issn": ", ".join(strings(message.get("ISSN"))) or None,
            "volume": as_text(message.get("volume")),
            "issue": as_text(message.get("issue")),
            "pages": page_range(as_text(message.get("page"))),
            "pub_date": pub_date,
            "year": int(pub_date[:4]) if pub_date else None,
            "epub_date": _date(message.get("published-online")),
            "language": as_text(message.get("language")),
            "license": _license(message.get("license")),
        },
        "sections": [{**s, "path": "message.abstract"} for s in abstract_sections(as_text(message.get("abstract")))],
        "authors": [_author(a, f"message.author[{i}]") for i, a in items(message.get("author"))],
        "trials": [
            {"nct_id": nct, "evidence": "crossref", "path": f"message.clinical-trial-number[{i}]"}
            for i, number in items(message.get("clinical-trial-number"))
            if (nct := nct_in_field(as_text(number.get("clinical-trial-number"))))
        ],
        "landing_url": as_text(obj(obj(message.get("resource")).get("primary")).get("URL")),
    }]


def _first(values) -> str | None:
    """The first string of a Crossref list field, as plain text (titles may carry <i>, <sub> markup)."""
    return plain_text(as_text(values[0])) if isinstance(values, list) and values else None


def _date(value) -> str | None:
    parts = obj(value).get("date-parts")
    first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
    return iso_date(*(first + [None, None, None])[:3]) if first else None


def _license(value) -> str | None:
    """The URL of the version-of-record licence, else of the first licence."""
    licences = [item for _, item in items(value)]
    chosen = next((item for item in licences if item.get("content-version") == "vor"), licences[0] if licences else {})
    return as_text(chosen.get("URL"))


def _author(author: dict, path: str) -> dict:
    name = as_text(author.get("name"))
    return {
        "family": as_text(author.get("family")),
        "given": as_text(author.get("given")),
        "initials": None,
        "name": name,
        "collective": name is not None and not author.get("family"),
        "orcid": as_text(author.get("ORCID")),
        "affiliations": [a for a in (as_text(aff.get("name")) for _, aff in items(author.get("affiliation"))) if a],
        "path": path,
    }
