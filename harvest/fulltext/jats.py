"""JATS full text (PMC's .nxml and efetch, Europe PMC's fullTextXML) → `records.FullTextRecord`: pure and bounded.

Sections: every `<sec>` of `<body>` (and paragraphs directly in `<body>`) with its heading path from the outermost
section in and the plain text of its own paragraphs (tables, figures and subsections left out); `start`/`end` place
that text in the document's plain text, the sections' texts joined by a blank line in document order.

Tables: every `<table-wrap>` outside the front matter and sub-articles, in document order, with its label, caption,
footnotes (`<table-wrap-foot>`: each `<fn>`, else each paragraph) and the cells of its first `<table>` placed on the
grid the HTML table model gives (a cell spanning k rows or columns occupies them; the next cell of a row takes the
next free column; a span stops at the end of its row group, and before a position another cell holds). Header rows
are those of `<thead>` (else the leading rows made only of `<th>`). A cell's `column_headers` are the header cells
above its first column, outermost first, blanks left out and a text repeated by the next header row given once; its
`row_headers` are the cell of the stub (column 0) of its row, the `<th>` cells between, and, first, the label of the
group it sits in: a body row whose only text is in column 0 labels the rows below it up to the next such row ("Sex"
above "Male", "Female").

Bounds: a body over MAX_BYTES, a span over MAX_SPAN, or tables occupying more than MAX_CELLS grid positions in all
are refused with ParseError before anything is allocated for them; a header path keeps its first MAX_PATH texts. XML
is parsed by `harvest.parsing.parse_xml` (no DTD, no entity, no network, lxml's limits on depth and text size).
"""

from __future__ import annotations

from collections import defaultdict

from lxml import etree

from harvest.errors import ParseError
from harvest.parsing import parse_xml, squash
from harvest.records import ArticleTable, BodySection, FullTextRecord, Ids, TableCell

MAX_BYTES = 32 << 20
MAX_SPAN = 1000
MAX_CELLS = 200_000
MAX_PATH = 10  # header texts kept in one cell's column or row path
SKIPPED = {"table-wrap", "table-wrap-group", "fig", "fig-group", "sec", "title", "label", "supplementary-material"}
OUTSIDE = {"front", "sub-article", "response", "front-stub"}


def article_element(body: bytes | str, source: str, key: str) -> etree._Element:
    """The `<article>` of a JATS document (itself, or the first of a `<pmc-articleset>` or OAI-PMH record), namespaces
    dropped from element names; ParseError if the body is too large, not XML, or holds no article."""
    if len(body) > MAX_BYTES:
        raise ParseError(source, key, f"{len(body)} bytes, more than the {MAX_BYTES} a JATS article may have; not read")
    root = parse_xml(body, source, key)
    for element in root.iter(etree.Element):
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = etree.QName(element).localname
    article = root if root.tag == "article" else next(root.iter("article"), None)
    if article is None or article.find("front") is None:
        raise ParseError(source, key, f"XML is not a JATS article (root <{root.tag}>, no <article> with <front>)")
    return article


def text_of(element: etree._Element | None, skip=frozenset()) -> str:
    """The plain text of `element` (whitespace squashed), leaving out the elements named in `skip`."""
    if element is None:
        return ""
    parts = []

    def walk(node):
        if node.text:
            parts.append(node.text)
        for child in node:
            if not (isinstance(child.tag, str) and child.tag in skip):
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return squash("".join(parts)) or ""


def full_text(article: etree._Element, ids: Ids, source: str, key: str) -> FullTextRecord:
    """The sections, tables and figure captions of `article` (from `article_element`)."""
    path = article.getroottree().getpath
    return {"source": source, "ids": ids, "sections": sections(article, path),
            "tables": tables(article, path, source, key), "figures": figures(article, path)}


def sections(article: etree._Element, path) -> list[BodySection]:
    """The body's sections in document order, each with its own paragraphs' text and its place in the plain text."""
    found: list[BodySection] = []
    offset = 0

    def visit(element, headings):
        nonlocal offset
        own = [text_of(child, SKIPPED) for child in element
               if isinstance(child.tag, str) and child.tag not in SKIPPED]
        text = "\n".join(t for t in own if t)
        if text:
            start = offset + (2 if found else 0)
            found.append({"headings": headings, "text": text, "start": start, "end": start + len(text),
                          "path": path(element)})
            offset = start + len(text)
        for child in element.iterchildren("sec"):
            title = text_of(child.find("title")) or text_of(child.find("label"))
            visit(child, headings + [title] if title else headings)

    body = article.find("body")
    if body is not None:
        visit(body, [])
    return found


def _outside(element: etree._Element) -> bool:
    return any(a.tag in OUTSIDE for a in element.iterancestors())


def figures(article: etree._Element, path) -> list[dict]:
    """Each figure's label and caption, in document order."""
    return [{"label": text_of(fig.find("label")) or None, "caption": text_of(fig.find("caption")) or None,
             "path": path(fig)} for fig in article.iter("fig") if not _outside(fig)]


def tables(article: etree._Element, path, source: str, key: str) -> list[ArticleTable]:
    """Each table-wrap's label, caption, footnotes and resolved cells, in document order."""
    found, budget = [], [MAX_CELLS]
    for wrap in article.iter("table-wrap"):
        if _outside(wrap):
            continue
        foot = wrap.find("table-wrap-foot")
        notes = [] if foot is None else (list(foot.iter("fn")) or list(foot.iter("p")))
        table = next(wrap.iter("table"), None)
        where = (source, f"{key} ({path(wrap)})")
        found.append({"label": text_of(wrap.find("label")) or None, "caption": text_of(wrap.find("caption")) or None,
                      "footnotes": [t for t in (text_of(n) for n in notes) if t], "position": len(found),
                      "cells": [] if table is None else cells(table, budget, where), "path": path(wrap)})
    return found


def _span(cell: etree._Element, name: str, where: tuple[str, str]) -> int:
    """A cell's rowspan or colspan: 1 when absent, 0 or not a number; ParseError over MAX_SPAN (read without
    converting a long digit string)."""
    raw = (cell.get(name) or "1").strip()
    if not raw.isdigit():
        return 1
    if len(raw) > 6 or int(raw) > MAX_SPAN:
        shown = raw[:12] + ("…" if len(raw) > 12 else "")
        raise ParseError(*where, f"a {name} of {shown}, more than {MAX_SPAN}; not read")
    return max(int(raw), 1)


def _groups(table: etree._Element) -> list[tuple[bool, list]]:
    """(is head, rows) for each row group of the table, in order: thead, tbody/tr groups, tfoot."""
    groups = [(True, list(g.iterchildren("tr"))) for g in table.iterchildren("thead")]
    groups += [(False, list(g.iterchildren("tr"))) for g in table.iterchildren("tbody")]
    groups += [(False, list(table.iterchildren("tr")))]
    groups += [(False, list(g.iterchildren("tr"))) for g in table.iterchildren("tfoot")]
    groups = [g for g in groups if g[1]]
    if groups and not any(head for head, _ in groups):  # no thead: leading rows made only of <th> are the head
        rows = groups[0][1]
        lead = 0
        while lead < len(rows) and len(rows[lead]) and all(c.tag == "th" for c in rows[lead]):
            lead += 1
        if lead:
            groups[0:1] = [(True, rows[:lead])] + ([(False, rows[lead:])] if rows[lead:] else [])
    return groups


def cells(table: etree._Element, budget: list[int], where: tuple[str, str]) -> list[TableCell]:
    """The table's cells on the resolved grid, each once at its top-left position, with its header paths.
    `budget` holds the grid positions the article's tables may still occupy (MAX_CELLS in all)."""
    placed: list[dict] = []
    grid: dict[tuple[int, int], int] = {}
    heads: list[int] = []  # grid rows of the head
    row0 = 0
    for head, rows in _groups(table):
        for r, tr in enumerate(rows):
            col = 0
            for cell in tr:
                if cell.tag not in ("td", "th"):
                    continue
                rowspan = min(_span(cell, "rowspan", where), len(rows) - r)
                colspan = _span(cell, "colspan", where)
                budget[0] -= rowspan * colspan
                if budget[0] < 0:
                    raise ParseError(*where, f"tables occupying more than {MAX_CELLS} grid positions; not read")
                while (row0 + r, col) in grid:
                    col += 1
                colspan = next((dc for dc in range(1, colspan) if any(
                    (row0 + r + dr, col + dc) in grid for dr in range(rowspan))), colspan)  # stops at a taken one
                placed.append({"row": row0 + r, "col": col, "rowspan": rowspan, "colspan": colspan,
                               "header": head or cell.tag == "th", "text": text_of(cell)})
                for dr in range(rowspan):
                    for dc in range(colspan):
                        grid[(row0 + r + dr, col + dc)] = len(placed) - 1
                col += colspan
            if head:
                heads.append(row0 + r)
        row0 += len(rows)
    return _with_headers(placed, grid, heads)


def _with_headers(placed: list[dict], grid: dict, heads: list[int]) -> list[TableCell]:
    """Each cell with its header paths, read from per-row and per-column lists of the grid (time and memory grow with
    the grid positions, never with their product); a path keeps its first MAX_PATH texts."""
    head_rows = set(heads)
    by_row: dict[int, list[tuple[int, int]]] = defaultdict(list)
    by_col: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for (r, c), owner in grid.items():
        by_row[r].append((c, owner))
        if r in head_rows:
            by_col[c].append((r, owner))
    columns: dict[int, list[str]] = {}
    for c, entries in by_col.items():
        path = columns[c] = []
        for _, owner in sorted(entries):
            text = placed[owner]["text"]
            if text and (not path or path[-1] != text) and len(path) < MAX_PATH:
                path.append(text)
    rows: dict[int, list[str]] = {}
    group, wide = None, any(c for _, c in grid)
    for r in sorted(set(by_row) - head_rows):
        entries = sorted(by_row[r])
        first = placed[entries[0][1]] if entries[0][0] == 0 else None
        if wide and first and first["row"] == r and first["text"] and not first["header"] \
                and all(placed[o] is first or not placed[o]["text"] for _, o in entries):
            group = first["text"]  # a label row: the rows below sit in its group, it in none
            path = []
        else:
            path = [group] if group else []
        seen = set()
        for c, owner in entries:
            if owner in seen:
                continue
            seen.add(owner)
            cell = placed[owner]
            if cell["row"] == r and not cell["header"]:
                rows[owner] = list(path)
            if cell["text"] and (c == 0 or cell["header"]) and cell["text"] not in path and len(path) < MAX_PATH:
                path.append(cell["text"])
    return [{**cell, "column_headers": [] if cell["header"] else list(columns.get(cell["col"], [])),
             "row_headers": rows.get(i, [])} for i, cell in enumerate(placed)]
