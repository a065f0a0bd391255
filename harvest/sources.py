"""Every source trial-kb harvests, registered once.

A registry source is its `http.Source` (name, base-URL variable, rate). An article source is an `ArticleSource`:
its `http.Source`, its parser (response bytes → `records.ArticleRecord` list), how to recognise a saved response of
it (`looks_like`, for `kb import`), and how to ask it about an article (`lookup`, for `kb build`). Adding an article
source takes one module under `harvest/articles/` and one line in `ARTICLE_SOURCES` (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from harvest import http
from harvest.articles import cinii, crossref, europepmc, fulltext, jstage, pubmed
from harvest.records import ArticleRecord, Ids
from harvest.registries import ctgov

Lookup = Callable[[Ids, list[ArticleRecord]], Iterator[http.Fetched]]


@dataclass(frozen=True)
class ArticleSource:
    """`parse(body, key)` gives the records of one response; `looks_like(head)` says whether a file is a response of
    this source from its first 4 KiB (lower-cased, BOM and leading whitespace removed); `lookup(ids, found)` yields
    the responses this source gives for an article known by `ids`, given the records other sources gave so far
    (nothing when it has no identifier to ask with). `first` sources are asked before the others (they resolve
    identifiers: a PMID from a DOI); a source without `lookup` is asked by another's (J-STAGE's WebAPI by its page)."""

    source: http.Source
    parse: Callable[[bytes | str, str], list[ArticleRecord]]
    looks_like: Callable[[bytes], bool]
    content_type: str
    lookup: Lookup | None = None
    first: bool = False

    @property
    def name(self) -> str:
        return self.source.name


# In order of precedence: for each field of an article, the first source that gives a value wins.
ARTICLE_SOURCES = (
    ArticleSource(pubmed.SOURCE, pubmed.parse, pubmed.looks_like, "text/xml", pubmed.lookup),
    ArticleSource(crossref.SOURCE, crossref.parse, crossref.looks_like, "application/json", crossref.lookup),
    ArticleSource(jstage.PAGE, jstage.parse_page, jstage.looks_like_page, "text/html", jstage.lookup),
    ArticleSource(jstage.API, jstage.parse_search, jstage.looks_like_search, "application/atom+xml"),
    ArticleSource(europepmc.SOURCE, europepmc.parse, europepmc.looks_like, "application/json", europepmc.lookup,
                  first=True),
    ArticleSource(cinii.SOURCE, cinii.parse, cinii.looks_like, "application/ld+json", cinii.lookup),
    ArticleSource(fulltext.SOURCE, fulltext.parse, fulltext.looks_like, "application/xml", fulltext.lookup),
)
REGISTRY_SOURCES = (ctgov.SOURCE, ctgov.HISTORY)
ALL = REGISTRY_SOURCES + tuple(a.source for a in ARTICLE_SOURCES)


def article_source(name: str) -> ArticleSource:
    """The registered article source called `name` (KeyError for any other name)."""
    found = next((a for a in ARTICLE_SOURCES if a.name == name), None)
    if found is None:
        raise KeyError(name)
    return found


def precedence(name: str) -> int:
    """The rank of an article source: 0 for the one whose values win."""
    return next(i for i, a in enumerate(ARTICLE_SOURCES) if a.name == name)


def harvest_order() -> list[ArticleSource]:
    """The article sources with a lookup, in the order `kb build` asks them: `first` ones, then by precedence."""
    asked = [a for a in ARTICLE_SOURCES if a.lookup]
    return [a for a in asked if a.first] + [a for a in asked if not a.first]


def sniff(head: bytes) -> ArticleSource | None:
    """The article source whose saved response starts with `head`, or None."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return next((a for a in ARTICLE_SOURCES if a.looks_like(head)), None)
