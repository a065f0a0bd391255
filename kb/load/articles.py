"""Articles into the KB: the records every source gives of an article, merged into one row, and saved.

The sources and their precedence are registered in `harvest.sources`. Every response a record came from is kept in
`snapshots`, and `article_sources` / `articles.sources` say which sources contributed.

Identity: records describe the same article when they share a PMID, a DOI or a PMCID; the article is named by
`kb.identity.article_id` (PMID first). Saving replaces the article's rows (also those stored earlier under its DOI
or PMCID name) in one transaction; an article whose rows and responses the KB already holds is left untouched, so
re-running gives the same database.

Precedence: for every bibliographic field, the abstract and author names, the first source in
`harvest.sources.ARTICLE_SOURCES` that gives a value wins (PubMed > Crossref > J-STAGE > J-STAGE WebAPI > Europe PMC
> CiNii Research); identifiers come from whichever source knows them (`other_ids`: the union, by precedence);
`articles.field_sources` says where each value came from. When sources give different values for a
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
from dataclasses import dataclass

import sqlite_utils

from harvest import http, sources
from harvest.identifiers import nct_ids
from harvest.parsing import squash
from harvest.records import ArticleRecord
from kb.load import affiliations, fulltext, names
from kb.store import documents
from kb.store.identity import article_id
from kb.store.schema import TABLES

FIELDS = ("title", "journal", "journal_iso", "issn", "year", "volume", "issue", "pages", "pub_date", "epub_date",
          "language", "publication_types", "mesh", "keywords", "accessions", "license", "open_access", "full_text_url",
          "titles", "abstracts")
JSON_FIELDS = ("publication_types", "mesh", "keywords", "accessions", "titles", "abstracts")
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
    record: ArticleRecord

    @property
    def source(self) -> str:
        return self.record["source"]


def _json(value) -> str | None:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value not in (None, [], {}) else None


def _rank(found: Found) -> int:
    return sources.precedence(found.source)


# --- pure merge ------------------------------------------------------------------------------------------------------


def parse_response(fetched: http.Fetched) -> list[Found]:
    """The records in one response, by the parser of its source (ParseError if it is not what the source sends)."""
    return [Found(fetched, record)
            for record in sources.article_source(fetched.source).parse(fetched.body, fetched.key)]


def articles_in(fetched_list: list[http.Fetched]) -> list[list[documents.Document]]:
    """The documents of each article in `fetched_list` (records without a PMID, DOI or PMCID name no article and
    are left out)."""
    return merge_found([f for fetched in fetched_list for f in parse_response(fetched)
                        if any(f.record["ids"].values())])


def merge_found(found: list[Found]) -> list[list[documents.Document]]:
    """The documents of each article the records in `found` describe (grouped by shared identifiers)."""
    return [merge(group) for group in group_by_identity(found)]


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


def merge(found: list[Found], also_kept: list[http.Fetched] = ()) -> list[documents.Document]:
    """The documents of one article from its records (sorted by precedence; of several records of one source, the
    one giving the most fields: a full record rather than a search result);
    `also_kept` are further responses to keep as snapshots (e.g. a source's "no such record" answer)."""
    ordered = sorted(found, key=_rank)
    found = [max((g for g in ordered if g.source == source), key=lambda g: len(_supplied(g.record)))
             for source in dict.fromkeys(f.source for f in ordered)]
    aid, ids = _identity(found)
    authors, author_notes = _merge_authors(found)
    origin = next((f for f in found if f.record["sections"]), None)
    sections = origin.record["sections"] if origin else []
    abstract, spans = _compose(sections)
    rows = {
        "articles": [_article_row(aid, ids, found, abstract or None)],
        "abstract_sections": [
            {"article_id": aid, "position": i, "label": s["label"], "category": s.get("category"), "text": s["text"],
             "span_start": start, "span_end": end, "snapshot_id": documents.snapshot_id(origin.fetched),
             "path": s["path"]}
            for i, (s, (start, end)) in enumerate(zip(sections, spans))
        ],
        "article_sources": [
            {"article_id": aid, "source": f.source, "snapshot_id": documents.snapshot_id(f.fetched),
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
    docs = [documents.Document(primary, rows, {table: {"article_id": aid} for table in ARTICLE_TABLES})]
    docs += [documents.Document(primary, {}, {"article_trials": {"article_id": aid, "evidence": evidence}})
             for evidence in LINK_EVIDENCE]
    docs += [documents.Document(primary, {}, {table: {"article_id": alias}})
             for alias in sorted(aliases) for table in ARTICLE_TABLES + ("article_trials",)]
    kept = {documents.snapshot_id(primary)}
    full = next((f for f in ordered if f.record.get("full_text")), None)
    if full:  # the full text (JATS) of the article, in one document that replaces the previous one's rows
        docs += fulltext.document(aid, full.fetched, full.record["full_text"], sorted(aliases))
        kept.add(documents.snapshot_id(full.fetched))
    for fetched in [f.fetched for f in ordered] + list(also_kept):
        if documents.snapshot_id(fetched) not in kept:
            kept.add(documents.snapshot_id(fetched))
            docs.append(documents.Document(fetched, {}, {}))
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
    other_ids = {}
    for f in reversed(found):
        other_ids.update(f.record.get("other_ids") or {})
    return {**row, "abstract": abstract, "other_ids": _json(other_ids), "sources": _json([f.source for f in found]),
            "field_sources": _json(origin)}


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
                                               "snapshot_id": documents.snapshot_id(f.fetched), "path": path})
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
    merged["identifiers"] = {**(author.get("identifiers") or {}), **(merged.get("identifiers") or {})}
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
            "display_name": names.display_name(author), "orcid": author["orcid"],
            "collective": int(author["collective"]), "identifiers": _json(author.get("identifiers")),
        })
        rows["article_authors"].append({"article_id": aid, "author_id": key, "position": position,
                                        "sources": _json(author["sources"])})
        for affiliation_id, (name, given_by) in author["affiliations"].items():
            rows["affiliations"].append(affiliations.row(name))
            rows["author_affiliations"].append({"article_id": aid, "author_id": key, "affiliation_id": affiliation_id,
                                                "sources": _json(sorted(set(given_by), key=sources.precedence))})
    return rows


# --- store -----------------------------------------------------------------------------------------------------------


def save_articles(db: sqlite_utils.Database, articles: list[list[documents.Document]]) -> None:
    """Store the articles (each a list of documents from `merge`) in one transaction, skipping every article whose
    rows and responses the KB already holds, so that re-running leaves the database exactly as it was."""
    documents.save(db, [doc for docs in articles if not _holds(db, docs) for doc in docs])


def _holds(db: sqlite_utils.Database, docs: list[documents.Document]) -> bool:
    """True when every response is stored, every replaced scope holds as many rows as its document (or the main
    one) would give it, and each new row is already there with the same values."""
    main = docs[0]
    if any(not db["snapshots"].count_where("id = ?", [documents.snapshot_id(d.snapshot)]) for d in docs):
        return False
    for doc in docs:
        for table, where in doc.replaces.items():
            expected = [r for r in (doc.rows or main.rows).get(table, [])
                        if all(r.get(k) == v for k, v in where.items())]
            if db[table].count_where(documents.where_clause(where), list(where.values())) != len(expected):
                return False
    for doc in (d for d in docs if d.rows):
        for table, rows in doc.rows.items():
            columns, pk, _ = TABLES[table]
            for row in rows:
                row = {"snapshot_id": documents.snapshot_id(doc.snapshot), **row} if "snapshot_id" in columns else row
                stored = next(db[table].rows_where(documents.where_clause(pk), [row[k] for k in pk]), None)
                if stored is None or any(stored[k] != v for k, v in row.items()):
                    return False
    return True
