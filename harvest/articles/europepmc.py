"""Europe PMC REST search: resolve PMID / DOI / PMCID and parse `resultType=core` results into article records.

A search by PMID asks `EXT_ID:{pmid} AND SRC:MED`, by DOI `DOI:"{doi}"`, by PMCID `PMCID:{pmcid}`. Records have
the shape described in `harvest.pubmed`; their fields add full-text availability (`open_access`, `full_text_url`).
"""

from __future__ import annotations

from collections.abc import Iterator

from harvest import http
from harvest.errors import ParseError
from harvest.identifiers import normalize_doi, normalize_pmcid, normalize_pmid, valid_or_none
from harvest.parsing import (
    abstract_sections,
    as_text,
    date_from_text,
    decode_json,
    iso_date,
    items,
    obj,
    page_range,
    plain_text,
    strings,
)
from harvest.records import ArticleRecord, Ids

SOURCE = http.Source("Europe PMC", "KB_EUROPEPMC_URL", "https://www.ebi.ac.uk/europepmc/webservices/rest", 5)
FREE = ("OA", "F")  # availability codes of full text anyone can read


def fetch(pmid: str | None = None, doi: str | None = None, pmcid: str | None = None) -> http.Fetched:
    """GET /search for one identifier (validated first), core result type, JSON."""
    if pmid:
        key = normalize_pmid(pmid)
        query = f"EXT_ID:{key} AND SRC:MED"
    elif doi:
        key = normalize_doi(doi)
        query = f'DOI:"{key}"'
    elif pmcid:
        key = normalize_pmcid(pmcid)
        query = f"PMCID:{key}"
    else:
        raise ValueError("give a PMID, a DOI or a PMCID")
    params = {"query": query, "resultType": "core", "format": "json", "pageSize": 25}
    return http.get(SOURCE, key, "/search", params=params, accept="application/json")


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """The search for the article's PMID, else its DOI (it resolves the other identifiers: asked first)."""
    if ids["pmid"] or ids["doi"]:
        yield fetch(pmid=ids["pmid"], doi=ids["doi"])


def looks_like(head: bytes) -> bool:
    """A search response."""
    return head.startswith(b"{") and (b'"resultlist"' in head or b'"hitcount"' in head)


def parse(body: bytes | str, key: str = "search") -> list[ArticleRecord]:
    """The article records of a search response ([] when nothing matched); ParseError if it is not one."""
    doc = decode_json(body, SOURCE.name, key)
    results = obj(obj(doc).get("resultList")).get("result")
    if not isinstance(results, list):
        raise ParseError(SOURCE.name, key, "JSON is not a Europe PMC search response (no resultList.result)")
    records = [_record(result, f"resultList.result[{i}]") for i, result in items(results)]
    return [r for r in records if any(r["ids"].values())]


def _record(result: dict, path: str) -> ArticleRecord:
    info, journal = obj(result.get("journalInfo")), obj(obj(result.get("journalInfo")).get("journal"))
    pub_date = date_from_text(as_text(info.get("printPublicationDate"))) or iso_date(
        as_text(info.get("yearOfPublication")) or as_text(result.get("pubYear")),
        as_text(info.get("monthOfPublication")))
    texts = [obj(u) for _, u in items(obj(result.get("fullTextUrlList")).get("fullTextUrl"))]
    free = [u for u in texts if u.get("availabilityCode") in FREE]
    open_access = as_text(result.get("isOpenAccess"))
    return {
        "source": SOURCE.name,
        "path": path,
        "ids": {"pmid": valid_or_none(normalize_pmid, as_text(result.get("pmid"))),
                "doi": valid_or_none(normalize_doi, as_text(result.get("doi"))),
                "pmcid": valid_or_none(normalize_pmcid, as_text(result.get("pmcid")))},
        "fields": {
            "title": plain_text(as_text(result.get("title"))),
            "journal": as_text(journal.get("title")) or as_text(result.get("journalTitle")),
            "journal_iso": as_text(journal.get("isoabbreviation")) or as_text(journal.get("medlineAbbreviation")),
            "issn": as_text(journal.get("issn")) or as_text(journal.get("essn")),
            "volume": as_text(info.get("volume")) or as_text(result.get("journalVolume")),
            "issue": as_text(info.get("issue")) or as_text(result.get("issue")),
            "pages": page_range(as_text(result.get("pageInfo"))),
            "pub_date": pub_date,
            "year": int(pub_date[:4]) if pub_date else None,
            "epub_date": date_from_text(as_text(result.get("electronicPublicationDate"))),
            "language": as_text(result.get("language")),
            "publication_types": strings(obj(result.get("pubTypeList")).get("pubType")),
            "mesh": [_mesh(h) for _, h in items(obj(result.get("meshHeadingList")).get("meshHeading"))],
            "keywords": strings(obj(result.get("keywordList")).get("keyword")),
            "license": as_text(result.get("license")),
            "open_access": {"Y": 1, "N": 0}.get(open_access),
            "full_text_url": as_text((free or [{}])[0].get("url")),
        },
        "sections": [{**s, "path": f"{path}.abstractText"}
                     for s in abstract_sections(as_text(result.get("abstractText")))],
        "authors": [_author(a, f"{path}.authorList.author[{i}]")
                    for i, a in items(obj(result.get("authorList")).get("author"))],
        "trials": [],
    }


def _mesh(heading: dict) -> dict:
    return {
        "descriptor": as_text(heading.get("descriptorName")),
        "ui": None,
        "major": heading.get("majorTopic_YN") == "Y",
        "qualifiers": [{"name": as_text(q.get("qualifierName")), "ui": None, "major": q.get("majorTopic_YN") == "Y"}
                       for _, q in items(obj(heading.get("meshQualifierList")).get("meshQualifier"))],
    }


def _author(author: dict, path: str) -> dict:
    author_id = obj(author.get("authorId"))
    collective = as_text(author.get("collectiveName"))
    affiliations = obj(author.get("authorAffiliationDetailsList")).get("authorAffiliation")
    return {
        "family": as_text(author.get("lastName")),
        "given": as_text(author.get("firstName")),
        "initials": as_text(author.get("initials")),
        "name": collective or (None if author.get("lastName") else as_text(author.get("fullName"))),
        "collective": collective is not None,
        "orcid": as_text(author_id.get("value")) if author_id.get("type") == "ORCID" else None,
        "affiliations": [a for a in (as_text(item.get("affiliation")) for _, item in items(affiliations)) if a],
        "path": path,
    }
