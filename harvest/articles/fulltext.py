"""The full text of open-access articles as JATS: Europe PMC `/{PMCID}/fullTextXML`, or a saved .nxml / PMC efetch.

Asked after the metadata sources, and only for an article with a PMCID whose Europe PMC record says it is open
access (`isOpenAccess`) or carries a Creative Commons licence: no licence-restricted text is fetched. A record gives
the front matter as any article source does (identifiers from `article-id` pmid / doi / pmc / pmcid, title,
journal, dates, authors, abstract, licence) and `full_text` (`harvest.fulltext.jats`: sections, tables with resolved
cells, figure captions). PMC's own OA service is not asked (where Europe PMC has no full text the article has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from harvest import http
from harvest.fulltext import jats
from harvest.identifiers import normalize_doi, normalize_pmcid, normalize_pmid, valid_or_none
from harvest.parsing import abstract_sections, iso_date, page_range, squash
from harvest.records import ArticleRecord, Ids

SOURCE = http.Source("JATS full text", "KB_FULLTEXT_URL", "https://www.ebi.ac.uk/europepmc/webservices/rest", 5)
OPEN_LICENCE = re.compile(r"\s*(cc[\s-]?(by|0)|creative\s*commons|public\s+domain|"
                          r"https?://(www\.)?creativecommons\.org/(licenses|publicdomain)/)", re.IGNORECASE)
_ARTICLE = re.compile(rb"<article[\s>]")


def open_licence(found: list[ArticleRecord]) -> bool:
    """Whether a source says the article is open access (Europe PMC's `isOpenAccess`) or under a Creative Commons
    or public-domain licence (a name such as "cc by", or its creativecommons.org address)."""
    return any(r["fields"].get("open_access") == 1 or OPEN_LICENCE.match(r["fields"].get("license") or "")
               for r in found)


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """Europe PMC's fullTextXML of the article's PMCID, when the records found so far say its licence is open."""
    if ids["pmcid"] and open_licence(found):
        pmcid = normalize_pmcid(ids["pmcid"])
        yield http.get(SOURCE, pmcid, f"/{pmcid}/fullTextXML", accept="application/xml")


def looks_like(head: bytes) -> bool:
    """A JATS article: XML holding a PMC article set, or an <article> element with JATS front matter or a JATS
    DOCTYPE."""
    if not head.startswith(b"<"):
        return False
    if b"<pmc-articleset" in head:
        return True
    return _ARTICLE.search(head) is not None and any(
        mark in head for mark in (b"<front", b"jats", b"journal-meta", b"dtd-version", b"-//nlm//dtd"))


def parse(body: bytes | str, key: str = "fulltext") -> list[ArticleRecord]:
    """The record of the article of a JATS document, with its `full_text`; ParseError if it is not one."""
    article = jats.article_element(body, SOURCE.name, key)
    meta = article.find("front/article-meta")
    meta = meta if meta is not None else etree.Element("article-meta")
    ids = _ids(meta)
    path = article.getroottree().getpath(article)
    license_ = meta.find("permissions/license")
    abstract = next((a for a in meta.iterchildren("abstract") if not a.get("abstract-type")), meta.find("abstract"))
    date = next((d for d in meta.iterchildren("pub-date") if d.get("pub-type") in ("epub", "ppub", None)
                 or d.get("date-type") == "pub"), meta.find("pub-date"))
    pub_date = iso_date(*(_child(date, n) for n in ("year", "month", "day"))) if date is not None else None
    return [{
        "source": SOURCE.name,
        "path": path,
        "ids": ids,
        "fields": {
            "title": jats.text_of(meta.find("title-group/article-title")) or None,
            "journal": jats.text_of(article.find("front/journal-meta/journal-title-group/journal-title")) or None,
            "issn": _child(article.find("front/journal-meta"), "issn"),
            "volume": _child(meta, "volume"),
            "issue": _child(meta, "issue"),
            "pages": page_range(_child(meta, "fpage"), _child(meta, "lpage")) or _child(meta, "elocation-id"),
            "pub_date": pub_date,
            "year": int(pub_date[:4]) if pub_date else None,
            "license": None if license_ is None else (
                license_.get("{http://www.w3.org/1999/xlink}href") or license_.get("license-type")),
        },
        "sections": [{**s, "path": f"{path}/front/article-meta/abstract"}
                     for s in abstract_sections(None if abstract is None else etree.tostring(abstract, encoding=str))],
        "authors": [_author(c, article.getroottree().getpath(c))
                    for c in meta.iter("contrib") if c.get("contrib-type", "author") == "author"],
        "trials": [],
        "full_text": jats.full_text(article, ids, SOURCE.name, key),
    }]


def _child(element, name: str) -> str | None:
    return None if element is None else squash(jats.text_of(element.find(name)))


def _ids(meta: etree._Element) -> Ids:
    given = {a.get("pub-id-type"): squash(a.text) for a in meta.iterchildren("article-id")}
    pmcid = given.get("pmcid") or given.get("pmc")
    if pmcid and pmcid.isdigit():
        pmcid = f"PMC{pmcid}"
    return {"pmid": valid_or_none(normalize_pmid, given.get("pmid")),
            "doi": valid_or_none(normalize_doi, given.get("doi")),
            "pmcid": valid_or_none(normalize_pmcid, pmcid)}


def _author(contrib: etree._Element, path: str) -> dict:
    collab = jats.text_of(contrib.find("collab")) or None
    orcid = next((squash(i.text) for i in contrib.iter("contrib-id") if i.get("contrib-id-type") == "orcid"), None)
    return {"family": _child(contrib, "name/surname"), "given": _child(contrib, "name/given-names"),
            "initials": None, "name": collab, "collective": collab is not None,
            "orcid": orcid.rsplit("/", 1)[-1] if orcid else None, "affiliations": [], "path": path}
