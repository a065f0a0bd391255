"""CiNii Research (NII): a research product's JSON-LD (`/crid/{CRID}.json`) and the OpenSearch article search
(`/opensearch/articles?format=json`), parsed into article records.

How an article is asked for (`lookup`): with a DOI, the OpenSearch API is searched by its `doi` parameter
(`/opensearch/articles?doi=…&format=json`); the item carrying the same DOI gives the CRID, whose JSON-LD is then
fetched (`Accept: application/ld+json`). Without a DOI nothing is asked. CiNii's OpenSearch requires an application
ID: it is read from CINII_APPID and sent as `appid`, a secret parameter of `harvest.http` (never kept in a stored
URL or an error message). Without
CINII_APPID no request is made to CiNii itself (an UpstreamError says why); a mirror or test server named by
KB_CINII_URL is asked without one. CiNii asks for no particular rate: 1 request/second is used.

What a record maps: titles by language (`dc:title`; `title` is the English one, else the first; a title without
`@language` is keyed "und"), journal (`publication.prism:publicationName`, English else first), ISSN (every PISSN,
EISSN and ISSN, written NNNN-NNNN, comma-separated), volume, issue (`prism:number`), pages, publication date and
year, `dc:language`, abstracts by language (`description` of type "abstract"; `sections` from the English one, else
the first), authors (`creator`, in order) with their NRID, ORCID and affiliations (`jpcoar:affiliationName`,
English when given, else every language given), DOI / PMID / PMCID, and `other_ids` (crid, naid, ndl). NCT numbers
are taken only from identifiers the record lists (evidence "cinii"); NCT numbers in titles and abstracts are the
KB's to find. An OpenSearch item carries less: title, creators as plain strings, journal, ISSN, volume, issue,
pages, date, description, identifiers (`dc:identifier`, `cir:DOI`...); only items with a DOI, PMID or PMCID are kept.

Name order. CiNii writes a person's name in one string, family name first, in Japanese script ("大向 一輝") and in
Latin script alike ("OHMUKAI IKKI" in CiNii's own documentation; "Suichi Tomoki" for Tomoki Suichi on CiNii's page of
the seed article), or as "Family, Given" ("中村, 勝範" in a recorded response). Of an author's `foaf:name` values
the English one is used, else the first. Rule, in order:

1. "Family, Given": split at the comma.
2. exactly two words, each of at least two letters, without dots, digits or brackets: the first word is the family
   name, the second the given name ("Suichi Tomoki" → family Suichi, given Tomoki; "Suzuki Yo-ichi" → Suzuki,
   Yo-ichi; "金沢 至" → 金沢, 至).
3. anything else stays unsplit in `name`: one word ("夏目漱石", written without a space), three or more words
   ("Japan-Vitnam Friendship Association.", "Maria de la Cruz"), initials ("T. Suichi", "Suichi T"), brackets.

Limits: a name CiNii writes given name first ("John Smith" for a non-Japanese author) is split the wrong way round
by rule 2; nothing in the record tells the two orders apart. CiNii Research comes last in precedence, so a
structured name from another source wins, and the KB reports a name given the other way round
(`author_name_order`). A group author written in two words would be read as a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from harvest import http
from harvest.errors import ParseError, UpstreamError
from harvest.identifiers import nct_in_field, normalize_doi, normalize_pmcid, normalize_pmid, valid_or_none
from harvest.parsing import (
    abstract_sections,
    as_text,
    date_from_text,
    decode_json,
    items,
    obj,
    page_range,
    plain_text,
    squash,
)
from harvest.records import ArticleRecord, Author, Ids

SOURCE = http.Source("CiNii Research", "KB_CINII_URL", "https://cir.nii.ac.jp", 1)
SCHEMA = "https://cir.nii.ac.jp/schema/"
CRID_RE = re.compile(r"/crid/(\d+)(?:\.json)?/?$")
ISSN_RE = re.compile(r"^(\d{4})-?(\d{3}[\dX])$", re.IGNORECASE)
NOT_PRODUCTS = {"Researcher", "Project"}
ISSN_TYPES = {"PISSN", "EISSN", "ISSN"}
OTHER_IDS = {"NAID": "naid", "NDL_BIB_ID": "ndl"}  # identifier type → `other_ids` scheme
APPID_ENV = "CINII_APPID"


# --- lookup ----------------------------------------------------------------------------------------------------------


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """With a DOI: the OpenSearch search by DOI, then the JSON-LD of the item carrying that DOI (nothing more when no
    item does). Nothing without a DOI. `found` is not needed: the API is searched by DOI, not by title."""
    doi = valid_or_none(normalize_doi, ids.get("doi"))
    if doi is None:
        return
    params = {"doi": doi, "format": "json", "count": "20"}
    appid = os.environ.get(APPID_ENV, "").strip()
    if appid:
        params["appid"] = appid
    elif SOURCE.base_url == SOURCE.default_url:
        raise UpstreamError(SOURCE.name, doi, f"{APPID_ENV} is not set: CiNii Research's OpenSearch API requires an "
                                              "application ID (appid)")
    search = _get(doi, "/opensearch/articles", params, "application/json")
    yield search
    crid = next((r["other_ids"]["crid"] for r in parse(search.body, doi)
                 if r["ids"]["doi"] == doi and r["other_ids"].get("crid")), None)
    if crid is not None:
        yield _get(doi, f"/crid/{crid}.json", None, "application/ld+json")


def _get(key: str, path: str, params: dict | None, accept: str) -> http.Fetched:
    return http.get(SOURCE, key, path, params=params, accept=accept)


# --- recognising a saved response ------------------------------------------------------------------------------------


def looks_like(head: bytes) -> bool:
    """A CiNii Research JSON-LD record or OpenSearch JSON response, from its first 4 KiB (lower-cased, stripped):
    a JSON object whose `@context` names CiNii's schema, or whose `@id` is a CiNii OpenSearch or CRID address."""
    if not head.startswith(b"{") or b'"message-type"' in head or b'"resultlist"' in head:
        return False
    return b"cir.nii.ac.jp/schema/" in head or b'"https://cir.nii.ac.jp/opensearch/' in head or (
        b'"@id"' in head and b'"https://cir.nii.ac.jp/crid/' in head and b'"@context"' in head)


# --- parsing ---------------------------------------------------------------------------------------------------------


def parse(body: bytes | str, key: str = "record") -> list[ArticleRecord]:
    """One record for a CRID JSON-LD document; one per item with a DOI, PMID or PMCID for an OpenSearch response
    (none when nothing matched); ParseError for anything else."""
    doc = decode_json(body, SOURCE.name, key)
    if not isinstance(doc, dict):
        raise ParseError(SOURCE.name, key, f"JSON is a {type(doc).__name__}, not a CiNii Research response")
    if isinstance(doc.get("items"), list) and (doc.get("@type") == "channel" or "opensearch:totalResults" in doc):
        records = [_item(item, f"$.items[{i}]") for i, item in items(doc["items"])]
        return [r for r in records if any(r["ids"].values())]
    vocab = as_text(obj(doc.get("@context")).get("@vocab")) or ""
    if not (_crid(doc.get("@id")) or vocab.startswith(SCHEMA)):
        raise ParseError(SOURCE.name, key, "JSON is not a CiNii Research response (no CiNii @context or CRID @id, "
                                           "no OpenSearch items)")
    kind = as_text(doc.get("@type"))
    if kind in NOT_PRODUCTS:
        raise ParseError(SOURCE.name, key, f"the CiNii Research record is a {kind}, not a research product")
    return [_record(doc)]


def _crid(value) -> str | None:
    match = CRID_RE.search(as_text(value) or "")
    return match.group(1) if match else None


def _tagged(value) -> list[tuple[str | None, str]]:
    """(language or None, text) of every value of a JSON-LD property: strings, {"@value"} objects or lists of them."""
    values = value if isinstance(value, list) else [value]
    found = []
    for element in values:
        if isinstance(element, dict):
            language, text = as_text(element.get("@language")), squash(as_text(element.get("@value")))
        else:
            language, text = None, squash(as_text(element))
        if text:
            found.append((language, text))
    return found


def _by_language(tagged: list[tuple[str | None, str]]) -> dict[str, str]:
    """{language: first text in it}; a text without language is keyed "und" (undetermined)."""
    result: dict[str, str] = {}
    for language, text in tagged:
        result.setdefault(language or "und", text)
    return result


def _preferred(tagged: list[tuple[str | None, str]]) -> str | None:
    """The English text, else the first."""
    return next((text for language, text in tagged if language == "en"), tagged[0][1] if tagged else None)


def _issn(value: str) -> str:
    match = ISSN_RE.match(value.strip())
    return f"{match.group(1)}-{match.group(2).upper()}" if match else value.strip()


def _distinct(values) -> list:
    return list(dict.fromkeys(v for v in values if v))


def _year(pub_date: str | None) -> int | None:
    return int(pub_date[:4]) if pub_date else None


def _record(doc: dict) -> ArticleRecord:
    crid = _crid(doc.get("@id"))
    typed = [(as_text(obj(p.get("identifier")).get("@type")), squash(as_text(obj(p.get("identifier")).get("@value"))),
              f"$.productIdentifier[{i}]") for i, p in items(doc.get("productIdentifier"))]
    first = {}
    for kind, value, _ in typed:
        if kind and value:
            first.setdefault(kind.upper(), value)
    other_ids = {"crid": crid} if crid else {}
    for kind, scheme in OTHER_IDS.items():
        if first.get(kind):
            other_ids[scheme] = first[kind]
    cia = next((squash(as_text(s.get("@value"))) for _, s in items(doc.get("dataSourceIdentifier"))
                if as_text(s.get("@type")) == "CIA"), None)
    if "naid" not in other_ids and cia:
        other_ids["naid"] = cia
    publication = obj(doc.get("publication"))
    journals = _tagged(publication.get("prism:publicationName"))
    titles = [(language, plain_text(text)) for language, text in _tagged(doc.get("dc:title"))]
    titles = [(language, text) for language, text in titles if text]
    pub_date = date_from_text(as_text(publication.get("prism:publicationDate")))
    abstracts, abstract_paths = [], {}
    for i, description in items(doc.get("description")):
        if (as_text(description.get("type")) or "").lower() != "abstract":
            continue
        for j, note in items(description.get("notation")):
            markup = squash(as_text(note.get("@value")))
            if markup and plain_text(markup):
                language = as_text(note.get("@language"))
                abstracts.append((language, markup))
                abstract_paths.setdefault(markup, f"$.description[{i}].notation[{j}]")
    chosen = _preferred(abstracts)
    languages = _tagged(doc.get("dc:language"))
    return {
        "source": SOURCE.name,
        "path": "$",
        "ids": {"pmid": valid_or_none(normalize_pmid, first.get("PMID")),
                "doi": valid_or_none(normalize_doi, first.get("DOI")),
                "pmcid": valid_or_none(normalize_pmcid, first.get("PMCID"))},
        "fields": {
            "title": _preferred(titles),
            "titles": _by_language(titles),
            "journal": _preferred(journals),
            "issn": ", ".join(_distinct(_issn(as_text(p.get("@value")) or "")
                                        for _, p in items(publication.get("publicationIdentifier"))
                                        if (as_text(p.get("@type")) or "").upper() in ISSN_TYPES)) or None,
            "volume": squash(as_text(publication.get("prism:volume"))),
            "issue": squash(as_text(publication.get("prism:number"))),
            "pages": page_range(as_text(publication.get("prism:startingPage")),
                                as_text(publication.get("prism:endingPage"))),
            "pub_date": pub_date,
            "year": _year(pub_date),
            "language": languages[0][1] if languages else None,
            "abstracts": {language: plain_text(markup) for language, markup in _by_language(abstracts).items()},
        },
        "sections": [{**s, "path": abstract_paths[chosen]} for s in abstract_sections(chosen)] if chosen else [],
        "authors": [_creator(c, f"$.creator[{i}]") for i, c in items(doc.get("creator"))],
        "trials": [{"nct_id": nct, "evidence": "cinii", "path": path}
                   for _, value, path in typed if (nct := nct_in_field(value))],
        "other_ids": other_ids,
        "landing_url": f"https://cir.nii.ac.jp/crid/{crid}" if crid else None,
    }


def split_name(text: str) -> tuple[str | None, str | None]:
    """(family, given) of a name CiNii writes family name first, or (None, None) when the string does not tell
    (the rule of the module docstring)."""
    text = squash(text) or ""
    if "," in text:
        family, _, given = (squash(part) for part in text.partition(","))
        return (family, given) if family and given else (None, None)
    words = text.split()
    if len(words) == 2 and all(len(w) >= 2 for w in words) and not re.search(r"[.\d()\[\]（）]", text):
        return words[0], words[1]
    return None, None


def _author(text: str, path: str) -> Author:
    family, given = split_name(text)
    return {"family": family, "given": given, "initials": None, "name": None if family else text,
            "collective": False, "orcid": None, "affiliations": [], "path": path}


def _creator(creator: dict, path: str) -> Author:
    author = _author(_preferred(_tagged(creator.get("foaf:name"))) or "", path)
    if not (author["family"] or author["name"]):
        author["name"] = None
    affiliations = _tagged(creator.get("jpcoar:affiliationName"))
    english = [text for language, text in affiliations if language == "en"]
    author["affiliations"] = _distinct(english or [text for _, text in affiliations])
    person_ids = [(as_text(p.get("@type")) or "", squash(as_text(p.get("@value"))))
                  for _, p in items(creator.get("personIdentifier"))]
    nrid = next((value for kind, value in person_ids if kind.upper() == "NRID" and value), None)
    author["orcid"] = next((value for kind, value in person_ids if kind.upper() == "ORCID" and value), None)
    if nrid:
        author["identifiers"] = {"nrid": nrid}
    return author


def _item(item: dict, path: str) -> ArticleRecord:
    """An OpenSearch item: a shorter description than the JSON-LD (identifiers as `cir:DOI`, `cir:NAID`...)."""
    identifiers = {}
    for _, identifier in items(item.get("dc:identifier") if isinstance(item.get("dc:identifier"), list)
                               else [item.get("dc:identifier")]):
        kind = (as_text(identifier.get("@type")) or "").rsplit(":", 1)[-1].upper()
        value = squash(as_text(identifier.get("@value")))
        if kind and value:
            identifiers.setdefault(kind, value)
    doi = identifiers.get("DOI") or next((text for _, text in _tagged(item.get("prism:doi"))), None)
    crid = _crid(item.get("@id")) or _crid(obj(item.get("link")).get("@id"))
    other_ids = {"crid": crid} if crid else {}
    for kind, scheme in OTHER_IDS.items():
        if identifiers.get(kind):
            other_ids[scheme] = identifiers[kind]
    pub_date = date_from_text(_first_text(item.get("prism:publicationDate")) or _first_text(item.get("dc:date")))
    description = _first_text(item.get("description"))
    creators = item.get("dc:creator") if isinstance(item.get("dc:creator"), list) else [item.get("dc:creator")]
    return {
        "source": SOURCE.name,
        "path": path,
        "ids": {"pmid": valid_or_none(normalize_pmid, identifiers.get("PMID")),
                "doi": valid_or_none(normalize_doi, doi),
                "pmcid": valid_or_none(normalize_pmcid, identifiers.get("PMCID"))},
        "fields": {
            "title": plain_text(_first_text(item.get("title")) or _first_text(item.get("dc:title"))),
            "journal": _first_text(item.get("prism:publicationName")),
            "issn": ", ".join(_distinct(_issn(text) for _, text in _tagged(item.get("prism:issn")))) or None,
            "volume": _first_text(item.get("prism:volume")),
            "issue": _first_text(item.get("prism:number")),
            "pages": page_range(_first_text(item.get("prism:startingPage")), _first_text(item.get("prism:endingPage")))
            or page_range(_first_text(item.get("prism:pageRange"))),
            "pub_date": pub_date,
            "year": _year(pub_date),
            "abstracts": {"und": plain_text(description)} if plain_text(description) else {},
        },
        "sections": [{**s, "path": f"{path}.description"} for s in abstract_sections(description)],
        "authors": [_author(text, f"{path}.dc:creator[{j}]")
                    for j, text in enumerate(squash(as_text(c)) for c in creators) if text],
        "trials": [],
        "other_ids": other_ids,
        "landing_url": (f"https://cir.nii.ac.jp/crid/{crid}" if crid else None),
    }


def _first_text(value) -> str | None:
    tagged = _tagged(value)
    return tagged[0][1] if tagged else None
