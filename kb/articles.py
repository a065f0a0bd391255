"""Articles: harvest every source that describes an article, merge what they say into one row, store it.

Sources: PubMed (efetch), Crossref (/works), J-STAGE (landing page; WebAPI when the page must be found by title) and
Europe PMC (search). A source that is down or has no record does not stop the others; every response received is
kept in `snapshots`, and `article_sources` / `articles.sources` say which sources contributed.

Identity: records describe the same article when they share a PMID, a DOI or a PMCID; the article is named by
`kb.identity.article_id` (PMID first). Saving replaces the article's rows (also those stored earlier under its DOI
or PMCID name) in one transaction; an article whose rows and responses the KB already holds is left untouched, so
re-running gives the same database.

Precedence: for every bibliographic field, the abstract and author names, the first source in PRECEDENCE that gives
a value wins (PubMed > Crossref > J-STAGE > J-STAGE WebAPI > Europe PMC); identifiers come from whichever source
knows them; `articles.field_sources` says where each value came from. When sources give different values for a
field of COMPARED, for the abstract's wording, the author count or an identifier, every source's value is kept in
`article_disagreements` (comparison ignores whitespace and a title's final period, not letter case).

`abstract` is plain text: sections joined by a blank line, each as "Label: text"; `abstract_sections` holds each
part with the span of its text in `abstract` (`abstract[span_start:span_end] == text`).

Authors: structured names (family / given) are merged in source precedence; an author of another source is the
same person when the ORCID is the same, else when the folded family name and first initial are (or family and
given are swapped), within POSITION_WINDOW places. A name written as one string (J-STAGE: "Suichi Tomoki") is
matched against structured names in both orders, so the page's family-name-first order never decides alone. An
author no other source lists is kept (appended) and reported in `article_disagreements` ("authors"); so are
structured names given the other way round ("author_name_order"). `author_id` follows the rule in `kb.names`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from harvest import crossref, europepmc, http, jstage, pubmed
from harvest.errors import BadIdentifier, HarvestError, NotFound, UpstreamError
from harvest.identifiers import nct_ids, normalize_doi, normalize_pmid
from harvest.parsing import squash

from . import affiliations, names, store
from .identity import article_id
from .importer import expand_paths, file_mtime
from .schema import TABLES

PRECEDENCE = (http.PUBMED.name, http.CROSSREF.name, http.JSTAGE.name, http.JSTAGE_API.name, http.EUROPEPMC.name)
PARSERS = {
    http.PUBMED.name: pubmed.parse, http.CROSSREF.name: crossref.parse, http.JSTAGE.name: jstage.parse_page,
    http.JSTAGE_API.name: jstage.parse_search, http.EUROPEPMC.name: europepmc.parse,
}
CONTENT_TYPES = {http.PUBMED.name: "text/xml", http.CROSSREF.name: "application/json", http.JSTAGE.name: "text/html",
                 http.JSTAGE_API.name: "application/atom+xml", http.EUROPEPMC.name: "application/json"}
FIELDS = ("title", "journal", "journal_iso", "issn", "year", "volume", "issue", "pages", "pub_date", "epub_date",
          "language", "publication_types", "mesh", "keywords", "accessions", "license", "open_access", "full_text_url")
JSON_FIELDS = ("publication_types", "mesh", "keywords", "accessions")
COMPARED = ("title", "year", "volume", "issue", "pages")
IDS = ("pmid", "doi", "pmcid")
ARTICLE_TABLES = ("articles", "abstract_sections", "article_authors", "author_affiliations", "article_sources",
                  "article_disagreements")
LINK_EVIDENCE = ("databank", "abstract", "title", "crossref")  # `registry reference` links belong to kb.ingest
POSITION_WINDOW = 3


@dataclass
class Found:
    """One source's record of the article and the response it came from."""

    fetched: http.Fetched
    record: dict

    @property
    def source(self) -> str:
        return self.record["source"]


def _json(value) -> str | None:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value not in (None, [], {}) else None


def _rank(found: Found) -> int:
    return PRECEDENCE.index(found.source)


# --- pure merge ------------------------------------------------------------------------------------------------------


def parse_response(fetched: http.Fetched) -> list[Found]:
    """The records in one response, by the parser of its source (ParseError if it is not what the source sends)."""
    return [Found(fetched, record) for record in PARSERS[fetched.source](fetched.body, fetched.key)]


def article_documents(fetched_list: list[http.Fetched]) -> list[store.Document]:
    """Documents for every article in `fetched_list`: records grouped by shared identifiers, one merged article
    per group. A response holding no record (an empty search) belongs to no article and is not kept."""
    return [doc for docs in _articles(fetched_list) for doc in docs]


def _articles(fetched_list: list[http.Fetched]) -> list[list[store.Document]]:
    return [merge(group) for group in group_by_identity([f for fetched in fetched_list for f in parse_response(fetched)])]


def group_by_identity(found: list[Found]) -> list[list[Found]]:
    """`found` split into articles: records sharing any identifier (transitively) are one article."""
    groups: list[tuple[set, list[Found]]] = []
    for item in found:
        keys = {f"{name}:{value}" for name, value in item.record["ids"].items() if value}
        joined = [g for g in groups if g[0] & keys]
        groups = [g for g in groups if not any(g is j for j in joined)]
        groups.append((keys.union(*(g[0] for g in joined)), [f for g in joined for f in g[1]] + [item]))
    return sorted((sorted(items, key=_rank) for _, items in groups), key=lambda items: _identity(items)[0])


def _identity(found: list[Found]) -> tuple[str, dict]:
    ids = {name: next((f.record["ids"][name] for f in found if f.record["ids"][name]), None) for name in IDS}
    return article_id(ids["pmid"], ids["doi"], ids["pmcid"]), ids


def merge(found: list[Found], also_kept: list[http.Fetched] = ()) -> list[store.Document]:
    """The documents of one article from its records (sorted by precedence, first record of each source used);
    `also_kept` are further responses to keep as snapshots (e.g. a source's "no such record" answer)."""
    ordered = sorted(found, key=_rank)
    found = [f for i, f in enumerate(ordered) if all(g.source != f.source for g in ordered[:i])]
    aid, ids = _identity(found)
    authors, author_notes = _merge_authors(found)
    origin = next((f for f in found if f.record["sections"]), None)
    sections = origin.record["sections"] if origin else []
    abstract, spans = _compose(sections)
    rows = {
        "articles": [_article_row(aid, ids, found, abstract or None)],
        "abstract_sections": [
            {"article_id": aid, "position": i, "label": s["label"], "category": s.get("category"), "text": s["text"],
             "span_start": start, "span_end": end, "snapshot_id": store.snapshot_id(origin.fetched),
             "path": s["path"]}
            for i, (s, (start, end)) in enumerate(zip(sections, spans))
        ],
        "article_sources": [
            {"article_id": aid, "source": f.source, "snapshot_id": store.snapshot_id(f.fetched),
             "fields": _json(_supplied(f.record))}
            for f in found
        ],
        "article_disagreements": [{"article_id": aid, **row} for row in _disagreements(found) + author_notes],
        "article_trials": _links(aid, found),
        **_author_rows(aid, authors),
    }
    primary = found[0].fetched
    aliases = {article_id(doi=ids["doi"]) if ids["doi"] else None, article_id(pmcid=ids["pmcid"]) if ids["pmcid"]
               else None} - {None, aid}
    docs = [store.Document(primary, rows, {table: {"article_id": aid} for table in ARTICLE_TABLES})]
    docs += [store.Document(primary, {}, {"article_trials": {"article_id": aid, "evidence": evidence}})
             for evidence in LINK_EVIDENCE]
    docs += [store.Document(primary, {}, {table: {"article_id": alias}})
             for alias in sorted(aliases) for table in ARTICLE_TABLES + ("article_trials",)]
    kept = {store.snapshot_id(primary)}
    for fetched in [f.fetched for f in ordered] + list(also_kept):
        if store.snapshot_id(fetched) not in kept:
            kept.add(store.snapshot_id(fetched))
            docs.append(store.Document(fetched, {}, {}))
    return docs


def _supplied(record: dict) -> list[str]:
    """The fields a record gives a value for."""
    given = [name for name in IDS if record["ids"][name]]
    given += [name for name in FIELDS if record["fields"].get(name) not in (None, "", [])]
    return given + [name for name in ("sections", "authors") if record[name]]


def _article_row(aid: str, ids: dict, found: list[Found], abstract: str | None) -> dict:
    row, origin = {"article_id": aid, **ids}, {}
    for name in FIELDS:
        chosen = next((f for f in found if f.record["fields"].get(name) not in (None, "", [])), None)
        value = chosen.record["fields"][name] if chosen else None
        row[name] = _json(value) if name in JSON_FIELDS else value
        if chosen:
            origin[name] = chosen.source
    abstract_source = next((f.source for f in found if f.record["sections"]), None)
    if abstract_source:
        origin["abstract"] = abstract_source
    return {**row, "abstract": abstract, "sources": _json([f.source for f in found]), "field_sources": _json(origin)}


def _compose(sections: list[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The plain abstract and each section's (start, end) in it."""
    text, spans = "", []
    for section in sections:
        text += ("\n\n" if text else "") + (f"{section['label']}: " if section["label"] else "")
        spans.append((len(text), len(text) + len(section["text"])))
        text += section["text"]
    return text, spans


def _value(record: dict, name: str):
    if name in IDS:
        return record["ids"][name]
    if name == "abstract":
        return _compose(record["sections"])[0] or None
    if name == "author_count":
        return len(record["authors"]) or None
    return record["fields"].get(name)


def _comparable(record: dict, name: str) -> str:
    """What is compared: whitespace collapsed; no final period in a title; DOI case and abstract labels ignored."""
    if name == "abstract":
        return squash(" ".join(s["text"] for s in record["sections"])) or ""
    text = squash(str(_value(record, name))) or ""
    return text.rstrip(".") if name == "title" else text.lower() if name == "doi" else text


def _disagreements(found: list[Found]) -> list[dict]:
    """One row per field on which the sources differ, with every source's value."""
    rows = []
    for name in COMPARED + IDS + ("abstract", "author_count"):
        said = [f for f in found if _value(f.record, name) not in (None, "")]
        if len({_comparable(f.record, name) for f in said}) > 1:
            rows.append({"field": name, "values": _json({f.source: _value(f.record, name) for f in said})})
    return rows


def _links(aid: str, found: list[Found]) -> list[dict]:
    """article ↔ NCT links: those a source states (databank, crossref) and NCT numbers in titles and abstracts."""
    links = {}
    for f in found:
        stated = [(t["nct_id"], t["evidence"], t["path"]) for t in f.record["trials"]]
        stated += [(nct, "title", f"{f.record['path']}:title[{start}:{end}]")
                   for nct, start, end in nct_ids(f.record["fields"].get("title"))]
        stated += [(nct, "abstract", f"{s['path']}[{start}:{end}]")
                   for s in f.record["sections"] for nct, start, end in nct_ids(s["text"])]
        for nct, evidence, path in stated:
            links.setdefault((nct, evidence), {"article_id": aid, "nct_id": nct, "evidence": evidence,
                                               "snapshot_id": store.snapshot_id(f.fetched), "path": path})
    return list(links.values())


# --- authors ---------------------------------------------------------------------------------------------------------


def _unsplit(author: dict) -> bool:
    return not author["collective"] and not author["family"] and bool(author["name"])


def _merge_authors(found: list[Found]) -> tuple[list[dict], list[dict]]:
    """The article's authors in order, each with its sources and affiliations; plus disagreement rows."""
    merged, unmatched, swapped = [], {}, {}
    ordered = sorted(found, key=lambda f: (any(_unsplit(a) for a in f.record["authors"]), _rank(f)))
    for number, f in enumerate(ordered):
        used = set()
        for i, raw in enumerate(f.record["authors"]):
            author = {**raw, "orcid": names.orcid(raw["orcid"])}
            j = _match(merged, author, i, used)
            if j is None:
                if _unsplit(author):
                    author["family"], author["given"] = names.split_name(author["name"])
                if not (author["family"] or author["collective"]):
                    continue
                merged.append({**author, "sources": [], "affiliations": {}})
                j = len(merged) - 1
                if number:
                    unmatched.setdefault(f.source, []).append(names.display_name(author))
            else:
                if not _unsplit(author) and names.swapped(merged[j], author):
                    swapped.setdefault(f.source, []).append(names.display_name(author))
                _complete(merged[j], author)
            used.add(j)
            merged[j]["sources"].append(f.source)
            for text in author["affiliations"]:
                for name in affiliations.normalise(text):
                    merged[j]["affiliations"].setdefault(affiliations.affiliation_id(name), (name, []))[1].append(
                        f.source)
    notes = [{"field": "authors", "values": _json(unmatched)}] if unmatched else []
    notes += [{"field": "author_name_order", "values": _json(swapped)}] if swapped else []
    return merged, notes


def _match(merged: list[dict], author: dict, position: int, used: set) -> int | None:
    """The index of `author` in `merged`: same ORCID anywhere, else the same name nearest to `position`."""
    free = [j for j in range(len(merged)) if j not in used]
    if author["orcid"]:
        same = next((j for j in free if merged[j]["orcid"] == author["orcid"]), None)
        if same is not None:
            return same
    for j in sorted((j for j in free if abs(j - position) <= POSITION_WINDOW), key=lambda j: abs(j - position)):
        if _unsplit(author):
            if not merged[j]["collective"] and names.written_as(author["name"], merged[j]):
                return j
        elif names.same_person(merged[j], author) or names.swapped(merged[j], author):
            return j
    return None


def _complete(merged: dict, author: dict) -> None:
    """Fill what the higher-precedence entry lacks: ORCID, initials, a full given name instead of initials."""
    merged["orcid"] = merged["orcid"] or author["orcid"]
    merged["initials"] = merged["initials"] or author["initials"]
    only_initials = all(len(word) == 1 for word in names.fold(merged["given"]).split())
    if only_initials and author["given"] and not _unsplit(author) and not names.swapped(merged, author) \
            and len(names.fold(author["given"])) > len(names.fold(merged["given"])):
        merged["given"] = author["given"]


def _author_rows(aid: str, merged: list[dict]) -> dict[str, list[dict]]:
    rows = {"authors": [], "article_authors": [], "affiliations": [], "author_affiliations": []}
    counts: dict[str, int] = {}
    for position, author in enumerate(merged):
        base = names.author_key(author)
        counts[base] = counts.get(base, 0) + 1
        key = base if counts[base] == 1 else f"{base}~{counts[base]}"  # two authors of one article, one name key
        rows["authors"].append({
            "author_id": key, "family": author["family"], "given": author["given"], "initials": author["initials"],
            "display_name": names.display_name(author), "orcid": author["orcid"], "collective": int(author["collective"]),
        })
        rows["article_authors"].append({"article_id": aid, "author_id": key, "position": position,
                                        "sources": _json(author["sources"])})
        for affiliation_id, (name, sources) in author["affiliations"].items():
            rows["affiliations"].append(affiliations.row(name))
            rows["author_affiliations"].append({"article_id": aid, "author_id": key, "affiliation_id": affiliation_id,
                                                "sources": _json(sorted(set(sources), key=PRECEDENCE.index))})
    return rows


# --- store -----------------------------------------------------------------------------------------------------------


def save(db: sqlite_utils.Database, articles: list[list[store.Document]]) -> None:
    """Store the articles (each a list of documents from `merge`) in one transaction, skipping every article whose
    rows and responses the KB already holds, so that re-running leaves the database exactly as it was."""
    store.save(db, [doc for docs in articles if not _holds(db, docs) for doc in docs])


def _holds(db: sqlite_utils.Database, docs: list[store.Document]) -> bool:
    """True when every response is stored, every replaced scope holds as many rows as it would get, and each new
    row is already there with the same values."""
    main = docs[0]
    if any(not db["snapshots"].count_where("id = ?", [store.snapshot_id(d.snapshot)]) for d in docs):
        return False
    for doc in docs:
        for table, where in doc.replaces.items():
            expected = [r for r in main.rows.get(table, []) if all(r.get(k) == v for k, v in where.items())]
            if db[table].count_where(store.where_clause(where), list(where.values())) != len(expected):
                return False
    for table, rows in main.rows.items():
        columns, pk, _ = TABLES[table]
        for row in rows:
            row = {"snapshot_id": store.snapshot_id(main.snapshot), **row} if "snapshot_id" in columns else row
            stored = next(db[table].rows_where(store.where_clause(pk), [row[k] for k in pk]), None)
            if stored is None or any(stored[k] != v for k, v in row.items()):
                return False
    return True


# --- harvest ---------------------------------------------------------------------------------------------------------


class _Harvest:
    """One article's harvest: each source's record or failure, every response received, the identifiers learnt."""

    def __init__(self, ids: dict):
        self.ids, self.found, self.kept, self.failed = dict(ids), [], [], {}

    def label(self) -> str:
        return f"PMID {self.ids['pmid']}" if self.ids["pmid"] else f"DOI {self.ids['doi']}"

    def ask(self, source: str, fetch, parse) -> dict | None:
        """This article's record from one source (the response is kept), or None with the failure noted."""
        try:
            fetched = fetch()
            self.kept.append(fetched)
            record = next((r for r in parse(fetched.body, fetched.key)
                           if any(r["ids"][k] and r["ids"][k] == self.ids[k] for k in IDS)), None)
            if record is None:
                raise NotFound(source, fetched.key, f"no record of {self.label()} in the response")
        except HarvestError as exc:
            self.failed[source] = exc
            return None
        self.found.append(Found(fetched, record))
        self.ids = {k: self.ids[k] or record["ids"][k] for k in IDS}
        return record


def harvest_article(db: sqlite_utils.Database, pmid: str | None = None, doi: str | None = None) -> dict:
    """Harvest one article from every source, merge, and save it in one transaction.

    Order: Europe PMC (resolves PMID / DOI / PMCID), PubMed, Crossref, J-STAGE (see `harvest.jstage`). Returns
    {article_id, sources_ok, sources_failed: {source: message}}. BadIdentifier is raised before any request for a
    malformed PMID or DOI; NotFound or UpstreamError, saving nothing, when no source gave the article.
    """
    ids = {"pmid": normalize_pmid(pmid) if pmid else None, "doi": normalize_doi(doi) if doi else None, "pmcid": None}
    if not (ids["pmid"] or ids["doi"]):
        raise BadIdentifier("article", repr(pmid or doi), "give a PMID or a DOI")
    run = _Harvest(ids)
    run.ask(http.EUROPEPMC.name, lambda: europepmc.fetch(pmid=ids["pmid"], doi=ids["doi"]), europepmc.parse)
    if run.ids["pmid"]:
        run.ask(http.PUBMED.name, lambda: next(pubmed.fetch([run.ids["pmid"]])), pubmed.parse)
    if run.ids["doi"]:
        work = run.ask(http.CROSSREF.name, lambda: crossref.fetch(run.ids["doi"]), crossref.parse)
        _ask_jstage(run, work)
    if not run.found:
        failures = list(run.failed.values())
        error = NotFound if all(isinstance(e, NotFound) for e in failures) else UpstreamError
        raise error("article", run.label(), "no source gave it (" + "; ".join(
            f"{source}: {exc.kind}: {exc.reason}" for source, exc in run.failed.items()) + ")")
    docs = merge(run.found, run.kept)
    save(db, [docs])
    return {"article_id": docs[0].rows["articles"][0]["article_id"], "sources_ok": [f.source for f in run.found],
            "sources_failed": {source: str(exc) for source, exc in run.failed.items()}}


def _ask_jstage(run: _Harvest, work: dict | None) -> None:
    """The J-STAGE page at the DOI's landing URL; found through the WebAPI when Crossref gave no landing URL."""
    landing = work.get("landing_url") if work else None
    if not landing:
        title = next((f.record["fields"]["title"] for f in run.found if f.record["fields"].get("title")), None)
        entry = title and run.ask(http.JSTAGE_API.name, lambda: jstage.search(run.ids["doi"], title),
                                  jstage.parse_search)
        landing = entry.get("landing_url") if entry else None
    if jstage.is_jstage_url(landing):
        run.ask(http.JSTAGE.name, lambda: jstage.fetch_page(run.ids["doi"], landing), jstage.parse_page)


# --- offline import --------------------------------------------------------------------------------------------------


def detect_source(head: bytes) -> str | None:
    """The source whose response format a file is in, from its first bytes; None for anything else."""
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"{"):
        if re.search(rb'"message-type"\s*:\s*"work"', head):
            return http.CROSSREF.name
        return http.EUROPEPMC.name if b'"resultlist"' in head or b'"hitcount"' in head else None
    if b"<pubmedarticleset" in head or b"<efetchresult" in head:
        return http.PUBMED.name
    if b"<feed" in head:
        return http.JSTAGE_API.name
    return http.JSTAGE.name if re.search(rb"<html[\s>]|<meta\s", head) else None


def import_article_files(db: sqlite_utils.Database, paths: list[Path]) -> list[str]:
    """Store the articles in saved responses (files or folders; PubMed XML, Crossref JSON, Europe PMC JSON, J-STAGE
    HTML / Atom), without network, in one transaction. Returns their article ids.

    Files in no article format are skipped; a file in one that does not parse raises ParseError, saving nothing.
    """
    responses = []
    for path in expand_paths([Path(p) for p in paths]):
        with open(path, "rb") as stream:
            source = detect_source(stream.read(4096))
        if source:
            responses.append(http.Fetched(source, path.name, path.resolve().as_uri(), None, path.read_bytes(),
                                          CONTENT_TYPES[source], file_mtime(path)))
    articles = _articles(responses)
    save(db, articles)
    return [docs[0].rows["articles"][0]["article_id"] for docs in articles]
