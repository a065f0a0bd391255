"""J-STAGE: an article's landing page (Highwire `citation_*` meta tags) and the WebAPI search (service=3, Atom).

How a DOI is turned into a page: the DOI's landing URL, as Crossref registers it (`resource.primary.URL`), is used
when it points at J-STAGE; its path is fetched from KB_JSTAGE_URL. Without it (Crossref down or silent), the WebAPI
is searched by article title and the entry carrying the same DOI gives the page's address (`article_link`).

Pages list authors as written, often family name first for Japanese authors ("Suichi Tomoki"): the records keep
the name unsplit (`name`) and leave the order to the merge, which compares it with other sources' structured names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

from harvest import http
from harvest.errors import ParseError
from harvest.identifiers import normalize_doi, valid_or_none
from harvest.parsing import abstract_sections, date_from_text, element_text, iso_date, page_range, parse_xml, squash
from harvest.records import ArticleRecord, Ids

PAGE = http.Source("J-STAGE", "KB_JSTAGE_URL", "https://www.jstage.jst.go.jp", 1)
API = http.Source("J-STAGE WebAPI", "KB_JSTAGE_API_URL", "https://api.jstage.jst.go.jp/searchapi/do", 1)
REQUIRED = ("citation_title", "citation_doi", "citation_author")
NS = {"a": "http://www.w3.org/2005/Atom", "prism": "http://prismstandard.org/namespaces/basic/2.0/"}


def is_jstage_url(url: str | None) -> bool:
    return bool(url) and (urlsplit(url).hostname or "").endswith("jstage.jst.go.jp")


def lookup(ids: Ids, found: list[ArticleRecord]) -> Iterator[http.Fetched]:
    """The article's landing page, when it is on J-STAGE: at the landing URL another source gave (Crossref's), else
    at the `article_link` of the WebAPI entry with the same DOI, searched by a title another source gave."""
    if not ids["doi"]:
        return
    landing = next((r["landing_url"] for r in found if r.get("landing_url")), None)
    title = next((r["fields"]["title"] for r in found if r["fields"].get("title")), None)
    if not landing and title:
        response = search(ids["doi"], title)
        yield response
        entry = next((r for r in parse_search(response.body, response.key) if r["ids"]["doi"] == ids["doi"]), None)
        landing = entry["landing_url"] if entry else None
    if is_jstage_url(landing):
        yield fetch_page(ids["doi"], landing)


def looks_like_page(head: bytes) -> bool:
    """An HTML page (the landing page's meta tags say whether it is an article's)."""
    return re.search(rb"<html[\s>]|<meta\s", head) is not None


def looks_like_search(head: bytes) -> bool:
    """A WebAPI Atom feed."""
    return b"<feed" in head


def fetch_page(doi: str, landing_url: str) -> http.Fetched:
    """GET the landing page at `landing_url` (a J-STAGE address), from KB_JSTAGE_URL."""
    parts = urlsplit(landing_url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return http.get(PAGE, normalize_doi(doi), path, accept="text/html")


def search(doi: str, title: str) -> http.Fetched:
    """GET the WebAPI search (service=3) for articles whose title contains `title`."""
    params = {"service": "3", "article": title.rstrip(". "), "count": "100"}
    return http.get(API, normalize_doi(doi), "", params=params, accept="application/atom+xml")


# --- landing page ----------------------------------------------------------------------------------------------------


def parse_page(body: bytes | str, key: str = "page") -> list[ArticleRecord]:
    """The article record of a landing page (a list of one); ParseError naming the meta tags it lacks."""
    metas = [(str(meta.get("name")).lower(), squash(meta.get("content")))
             for meta in BeautifulSoup(body, "lxml").find_all("meta") if meta.get("name")]
    metas = [(name, content) for name, content in metas if content]
    missing = [name for name in REQUIRED if not any(n == name for n, _ in metas)]
    doi = valid_or_none(normalize_doi, _meta(metas, "citation_doi"))
    if doi is None and "citation_doi" not in missing:
        missing.append("a valid citation_doi")
    if missing:
        raise ParseError(PAGE.name, key,
                         f"page lacks {', '.join(missing)} (not an article page, or the layout changed)")
    pub_date = date_from_text(_meta(metas, "citation_publication_date") or _meta(metas, "citation_date"))
    return [{
        "source": PAGE.name,
        "path": "html/head/meta",
        "ids": {"pmid": None, "doi": doi, "pmcid": None},
        "fields": {
            "title": _meta(metas, "citation_title"),
            "journal": _meta(metas, "citation_journal_title"),
            "journal_iso": _meta(metas, "citation_journal_abbrev"),
            "issn": ", ".join(_metas(metas, "citation_issn")) or None,
            "volume": _meta(metas, "citation_volume"),
            "issue": _meta(metas, "citation_issue"),
            "pages": page_range(_meta(metas, "citation_firstpage"), _meta(metas, "citation_lastpage")),
            "pub_date": pub_date,
            "year": int(pub_date[:4]) if pub_date else None,
            "epub_date": date_from_text(_meta(metas, "citation_online_date")),
            "language": _meta(metas, "citation_language"),
            "keywords": [k for value in _metas(metas, "citation_keywords") for k in map(squash, value.split(";")) if k],
        },
        "sections": [{**s, "path": "meta[name=citation_abstract]"}
                     for s in abstract_sections(_meta(metas, "citation_abstract"))],
        "authors": _page_authors(metas),
        "trials": [],
    }]


def _meta(metas: list[tuple[str, str]], name: str) -> str | None:
    return next((content for n, content in metas if n == name), None)


def _metas(metas: list[tuple[str, str]], name: str) -> list[str]:
    return [content for n, content in metas if n == name]


def _page_authors(metas: list[tuple[str, str]]) -> list[dict]:
    """Authors in page order; each `citation_author_institution` / `_orcid` belongs to the author before it."""
    authors = []
    for name, content in metas:
        if name == "citation_author":
            family, _, given = content.partition(",") if "," in content else (None, "", None)
            authors.append({"family": squash(family), "given": squash(given), "initials": None,
                            "name": None if family else content, "collective": False, "orcid": None,
                            "affiliations": [], "path": f"meta[name=citation_author][{len(authors)}]"})
        elif name == "citation_author_institution" and authors:
            authors[-1]["affiliations"].append(content)
        elif name == "citation_author_orcid" and authors:
            authors[-1]["orcid"] = content
    return authors


# --- WebAPI ----------------------------------------------------------------------------------------------------------


def parse_search(body: bytes | str, key: str = "search") -> list[ArticleRecord]:
    """The article records of a WebAPI Atom response, one per entry with a DOI; ParseError on an API error."""
    root = parse_xml(body, API.name, key)
    if root.tag != f"{{{NS['a']}}}feed":
        raise ParseError(API.name, key, f"root element is <{root.tag}>, not an Atom <feed>")
    status = element_text(root.find("a:result/a:status", NS))
    if status not in (None, "0"):
        raise ParseError(API.name, key, f"WebAPI status {status}: {element_text(root.find('a:result/a:message', NS))}")
    records = [_entry(entry, f"feed/entry[{i}]") for i, entry in enumerate(root.findall("a:entry", NS))]
    return [r for r in records if r["ids"]["doi"]]


def _lang(element, path: str) -> str | None:
    """The English text of a bilingual element, else the Japanese."""
    return element_text(element.find(f"{path}/a:en", NS)) or element_text(element.find(f"{path}/a:ja", NS))


def _entry(entry, path: str) -> ArticleRecord:
    names = entry.findall("a:author/a:en/a:name", NS) or entry.findall("a:author/a:ja/a:name", NS)
    pub_date = iso_date(element_text(entry.find("a:pubyear", NS)))
    link = entry.find("a:link", NS)
    return {
        "source": API.name,
        "path": path,
        "ids": {"pmid": None, "doi": valid_or_none(normalize_doi, element_text(entry.find("prism:doi", NS))),
                "pmcid": None},
        "fields": {
            "title": _lang(entry, "a:article_title"),
            "journal": _lang(entry, "a:material_title"),
            "issn": ", ".join(filter(None, (element_text(entry.find(f"prism:{n}", NS)) for n in ("issn", "eIssn"))))
            or None,
            "volume": element_text(entry.find("prism:volume", NS)),
            "issue": element_text(entry.find("prism:number", NS)),
            "pages": page_range(element_text(entry.find("prism:startingPage", NS)),
                                element_text(entry.find("prism:endingPage", NS))),
            "pub_date": pub_date,
            "year": int(pub_date) if pub_date else None,
        },
        "sections": [],
        "authors": [{"family": None, "given": None, "initials": None, "name": text, "collective": False,
                     "orcid": None, "affiliations": [], "path": f"{path}/author/name[{i}]"}
                    for i, text in enumerate(element_text(n) for n in names) if text],
        "trials": [],
        "landing_url": _lang(entry, "a:article_link") or (link.get("href") if link is not None else None),
    }
