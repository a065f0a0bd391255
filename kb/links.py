"""trial-kb's own Datasette plugin (`kb.serve.datasette_for` registers it): links and readable JSON in HTML cells.

Datasette draws a link for a foreign key whose row it found (with the row's label); this module's `render_cell`
draws the rest, from the value and its column name alone, without reading the database:

- an id is a link to its row in the site: an NCT ID to /kb/trials/NCT…, an article id (pmid:…, doi:…, pmcid:…) to
  /kb/articles/…, a check id, a snapshot id, an author id, a stored row's id (in `checks.uses`, `matched_to`) to
  its table, whose name the id's shape tells (kb.load.trials and kb.derive.rows write them);
- an identifier the world knows is also a link out, marked ↗ (rel="noopener", a title saying where it goes):
  ClinicalTrials.gov, PubMed, doi.org, PubMed Central, ORCID; nothing is loaded from another host;
- the row page of a trial or an article leads to what belongs to it (its report, checks, results, ...);
- a JSON list or object is shown as a list (items separated by commas) or as `key: value` lines, with numbers
  rounded to 4 significant digits on the page (the JSON API and the database keep every digit).

Every text is escaped: harvested strings are shown as text, never as HTML. A cell this module has nothing to say
about is left to Datasette (`None`). `render_cell` runs for every cell of every page: it looks at the column name
and the first characters of the value before anything else, and compiles everything once, here.
"""

from __future__ import annotations

import json
import re
from html import escape  # & < > " ' as entities, into a str (markupsafe would make a Markup of each piece)
from urllib.parse import quote
from weakref import WeakKeyDictionary

from datasette import hookimpl
from datasette.utils import tilde_encode
from markupsafe import Markup

from kb.pages import LONGEST_SHOWN, rounded, shortened

NCT = re.compile(r"NCT\d{8}")
PMID = re.compile(r"\d{1,9}")
PMCID = re.compile(r"(?:PMC)?\d{1,9}")
ORCID = re.compile(r"(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])")
ARTICLE_PREFIXES = ("pmid:", "doi:", "pmcid:")
# Identifiers written inside a text (the trial report's "linked by …; doi:10…", the list of a check's trials)
IDS_IN_TEXT = re.compile(r"\b(?:NCT\d{8}|pmid:\d+|pmcid:PMC\d+|doi:10\.\d{4,9}/[^\s;,]*[^\s;,.)\]])")
# A stored row's id → its table (ids as kb.load.trials and kb.derive.rows write them; checks.uses holds them)
ROW_TABLES = (
    (re.compile(r"/(?:registry|publication)/regimen/|/regimen/\d+$"), "regimen"),
    (re.compile(r"/registry/protocolSection\.outcomesModule\.|/endpoint/\d+$"), "endpoints"),
    (re.compile(r"/registry/resultsSection\.|/result/\d+$"), "results"),
    (re.compile(r"^NCT\d{8}/resultsSection\.baselineCharacteristicsModule\."), "baseline_measurements"),
    (re.compile(r"^NCT\d{8}/resultsSection\.adverseEventsModule\."), "adverse_events"),
    (re.compile(r"^NCT\d{8}/resultsSection\.participantFlowModule\."), "participant_flow"),
)
OUT = '<a class="kb-out" href="{href}" rel="noopener" title="{title}">{text}</a>'
CTGOV, PMC = "https://clinicaltrials.gov/study/", "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC"
ARROW = "\u2197"  # ↗: the link leaves the site
NBSP = "&nbsp;"  # between an id and its ↗, so that they stay on one line
NOT_HARVESTED = "(not harvested)"  # what the trial report writes for an article the KB has no row of


# Row keys made only of these characters are tilde-encoded by five str.replace (Datasette's tilde_encode makes a
# Python call per character: the thousand check ids of the inconsistencies page took 10 ms)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-/.:\[\]]*")
_TABLE_URLS: WeakKeyDictionary = WeakKeyDictionary()  # Datasette instance → {(database, table): escaped URL}


def row_key(key: str) -> str:
    """Datasette's tilde encoding of a row's key, as its row URL holds it (/kb/checks/NCT00791778~2Fkind~2F1)."""
    if _PLAIN_KEY.fullmatch(key):
        return key.replace("/", "~2F").replace(".", "~2E").replace(":", "~3A").replace("[", "~5B").replace("]", "~5D")
    return tilde_encode(key)


class Site:
    """URLs inside the Datasette instance, for one database, escaped for an HTML attribute."""

    def __init__(self, datasette, database: str):
        self.datasette, self.database = datasette, database

    def table(self, table: str, **filters: str) -> str:
        urls = _TABLE_URLS.get(self.datasette)
        if urls is None:
            urls = _TABLE_URLS[self.datasette] = {}
        url = urls.get((self.database, table))
        if url is None:
            url = urls[self.database, table] = escape(str(self.datasette.urls.table(self.database, table)))
        return url + ("?" + "&amp;".join(f"{k}={quote(v, safe='')}" for k, v in filters.items()) if filters else "")

    def query(self, query: str, **params: str) -> str:
        return self.table(query, **params)  # canned queries live where tables do: /kb/<name>

    def row(self, table: str, key: str) -> str:
        return f"{self.table(table)}/{row_key(key)}"  # a tilde-encoded key holds nothing HTML escapes


# --- links -----------------------------------------------------------------------------------------------------------


def inside(href: str, text: str, title: str | None = None) -> str:
    """A link inside the site; `href` comes from Site, escaped already."""
    titled = f' title="{escape(title)}"' if title else ""
    return f'<a href="{href}"{titled}>{escape(text)}</a>'


def out(href: str, title: str, text: str = ARROW) -> str:
    return OUT.format(href=escape(href), title=escape(title), text=escape(text))


def pmid_out(pmid: str) -> str | None:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" if PMID.fullmatch(pmid) else None


def doi_out(doi: str) -> str | None:
    return f"https://doi.org/{quote(doi, safe='/:;()[]-._~+,=')}" if doi.startswith("10.") else None


def pmcid_out(pmcid: str) -> str | None:
    return f"{PMC}{pmcid.removeprefix('PMC')}/" if PMCID.fullmatch(pmcid) else None


def orcid_out(orcid: str) -> str | None:
    found = ORCID.fullmatch(orcid)
    return f"https://orcid.org/{found[1]}" if found else None


def article_out(article_id: str) -> tuple[str, str] | None:
    """Where an article id (pmid:…, doi:…, pmcid:…) leads outside, and the link's title."""
    kind, _, value = article_id.partition(":")
    href = {"pmid": pmid_out, "doi": doi_out, "pmcid": pmcid_out}.get(kind, lambda _: None)(value)
    where = {"pmid": "PubMed", "doi": "doi.org (the publisher's page)", "pmcid": "PubMed Central"}.get(kind)
    return (href, f"{article_id} on {where}") if href else None


def nct_links(site: Site, nct: str) -> str:
    """An NCT ID (matched by NCT: nothing to escape or encode): its trial row, and ClinicalTrials.gov."""
    return (f'<a href="{site.table("trials")}/{nct}">{nct}</a>{NBSP}<a class="kb-out" href="{CTGOV}{nct}" '
            f'rel="noopener" title="{nct} on ClinicalTrials.gov">{ARROW}</a>')


def article_links(site: Site, article_id: str, in_site: bool = True) -> str:
    text = inside(site.row("articles", article_id), article_id) if in_site else escape(article_id)
    found = article_out(article_id)
    return f"{text}{NBSP}{out(*found)}" if found else text


def subject_links(site: Site, subject: str) -> str | None:
    """An NCT ID or an article id: its row, and the page about it outside."""
    if NCT.fullmatch(subject):
        return nct_links(site, subject)
    if subject.startswith(ARTICLE_PREFIXES):
        return article_links(site, subject)
    return None


def row_table(row_id: str) -> str | None:
    """The table of a stored row's id, from its shape (None when the shape is not one kb writes)."""
    for pattern, table in ROW_TABLES:
        if pattern.search(row_id):
            return table
    return None


def stored_row_link(site: Site, row_id: str) -> str:
    table = row_table(row_id)
    return id_link(site, table, row_id) if table else escape(row_id)


def id_link(site: Site, table: str, row_id: str) -> str:
    """A link to a row by its id, shown short (kb.pages.shortened), with the whole id as the link's title."""
    return inside(site.row(table, row_id), shortened(row_id), row_id if len(row_id) > LONGEST_SHOWN else None)


def id_in_text(site: Site, found: str) -> str:
    """An identifier written in a text: an NCT ID or a PMID leads to its row and out; a DOI or a PMCID only out
    (an article's id is its PMID when it has one, so doi:… is not necessarily the id of a row)."""
    if found.startswith(("doi:", "pmcid:")):
        return out(*article_out(found), text=f"{found}\u00a0{ARROW}")
    return subject_links(site, found) or escape(found)


def ids_in_text(site: Site, text: str) -> str:
    """`text` escaped, with each identifier in it linked."""
    parts, end = [], 0
    for found in IDS_IN_TEXT.finditer(text):
        parts.append(escape(text[end:found.start()]))
        parts.append(id_in_text(site, found[0]))
        end = found.end()
    return "".join(parts) + escape(text[end:]) if parts else escape(text)


def related(site: Site, pages: list[tuple[str, str]]) -> str:
    return " · ".join(inside(href, text) for text, href in pages)


def trial_row(site: Site, nct: str) -> str:
    """A trial's own row page: the pages about it."""
    if not NCT.fullmatch(nct):
        return escape(nct)
    return f"{nct}{NBSP}{out(CTGOV + nct, f'{nct} on ClinicalTrials.gov')}<br>" + related(site, [
        ("trial report", site.query("trial_report", nct=nct)),
        ("articles", site.table("article_trials", nct_id=nct)),
        ("checks", site.table("checks", subject=nct)),
        ("endpoints compared", site.query("registry_vs_publication", nct=nct)),
        ("results", site.table("results", subject=nct)),
        ("drug schedule", site.query("regimen_schedule", subject=nct)),
        ("history", site.query("history", nct=nct)),
    ])


def article_row(site: Site, article_id: str) -> str:
    """An article's own row page: the pages about it."""
    found = article_out(article_id)
    head = f"{escape(article_id)}{NBSP}{out(*found)}" if found else escape(article_id)
    return f"{head}<br>" + related(site, [
        ("authors", site.query("byline", article=article_id)),
        ("checks", site.table("checks", subject=article_id)),
        ("results", site.table("results", subject=article_id)),
        ("endpoints", site.table("endpoints", subject=article_id)),
        ("full-text tables", site.table("article_tables", article_id=article_id)),
        ("drug schedule", site.query("regimen_schedule", subject=article_id)),
    ])


# --- JSON ------------------------------------------------------------------------------------------------------------


def inline(site: Site, value, ids: bool) -> str:
    """One JSON value inside a line. `ids`: strings are stored rows' ids (checks.uses)."""
    if isinstance(value, str):
        if ids:
            return stored_row_link(site, value)
        return nct_links(site, value) if NCT.fullmatch(value) else escape(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return rounded(value)
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "\u2014"
    if isinstance(value, list):
        return "[" + ", ".join(inline(site, item, ids) for item in value) + "]"
    return "{" + "; ".join(f"{escape(key)}: {inline(site, item, ids)}" for key, item in value.items()) + "}"


def json_cell(site: Site, text: str, ids: bool = False) -> str | None:
    """A JSON list as its items separated by commas (one a line when they are lists or objects, an object as
    `key: value; key: value`), a JSON object as `key: value` lines; None for any other text."""
    if text[-1] not in "]}":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict) and value:
        return "<br>".join(f"{escape(key)}: {inline(site, item, ids)}" for key, item in value.items())
    if isinstance(value, list) and value:
        if not any(isinstance(item, (list, dict)) for item in value):
            return ", ".join(inline(site, item, ids) for item in value)
        return "<br>".join("; ".join(f"{escape(key)}: {inline(site, part, ids)}" for key, part in item.items())
                           if isinstance(item, dict) else inline(site, item, ids) for item in value)
    return None


# --- the hook --------------------------------------------------------------------------------------------------------


def _row_value(row, column: str):
    try:
        return row[column]
    except (IndexError, KeyError):
        return None


def _out_only(href: str | None, title: str, text: str) -> str | None:
    return out(href, title, f"{text}\u00a0{ARROW}") if href else None


def _nct(site: Site, value: str, table: str | None, row) -> str | None:
    if table == "trials":
        return trial_row(site, value)
    return nct_links(site, value) if NCT.fullmatch(value) else None


def _article_id(site: Site, value: str, table: str | None, row) -> str | None:
    if table == "articles":
        return article_row(site, value)
    return article_links(site, value) if value.startswith(ARTICLE_PREFIXES) else None


def _author_id(site: Site, value: str, table: str | None, row) -> str:
    found = orcid_out(value.removeprefix("orcid:")) if value.startswith("orcid:") else None
    link = inside(site.row("authors", value), value)
    return f"{link}{NBSP}{out(found, f'{value} on ORCID')}" if found else link


def table_link(site: Site, table_id: str) -> str:
    """A full-text table's id: a link to the table as printed (kb.table_view)."""
    return inside(f"{site.table('-')}/table/{quote(table_id, safe='/:')}", table_id, "the table as printed")


def _row_of(table: str):
    return lambda site, value, _table, _row: id_link(site, table, value)


def _report_item(site: Site, value: str, table: str | None, row) -> str | None:
    """The item of a trial report's article line: the article (its row when the KB has it) and the page out."""
    if table is not None or _row_value(row, "section") != "article":
        return None
    return article_links(site, value, in_site=_row_value(row, "publication") != NOT_HARVESTED)


def _report_detail(site: Site, value: str, table: str | None, row) -> str | None:
    """The detail of a trial report's article line ("linked by abstract; doi:10…"): its ids linked."""
    if table is not None or not ("doi:" in value or "pmid:" in value or "NCT" in value):
        return None  # (tested first: most details hold no identifier, and a row without `section` raises)
    return ids_in_text(site, value) if _row_value(row, "section") == "article" else None


# column name → how its text cells render (None: leave the cell to Datasette)
BY_COLUMN = {
    "nct_id": _nct,
    "alias_of": lambda site, value, table, row: nct_links(site, value) if NCT.fullmatch(value) else None,
    "subject": lambda site, value, table, row: subject_links(site, value),
    "article_id": _article_id,
    "check_id": _row_of("checks"),
    "snapshot_id": _row_of("snapshots"),
    "author_id": _author_id,
    "affiliation_id": _row_of("affiliations"),
    "matched_to": _row_of("endpoints"),
    "table_id": lambda site, value, table, row: table_link(site, value),
    "id": lambda site, value, table, row: table_link(site, value) if table == "article_tables" else None,
    "registry_endpoint": _row_of("endpoints"),
    "publication_endpoint": _row_of("endpoints"),
    "uses": lambda site, value, table, row: json_cell(site, value, ids=True) if value[0] == "[" else None,
    "pmid": lambda site, value, table, row: _out_only(pmid_out(value), f"PMID {value} on PubMed", value),
    "doi": lambda site, value, table, row: _out_only(doi_out(value), f"doi:{value} on doi.org (the publisher's page)",
                                                    value),
    "pmcid": lambda site, value, table, row: _out_only(pmcid_out(value), f"{value} on PubMed Central", value),
    "orcid": lambda site, value, table, row: _out_only(orcid_out(value), f"ORCID {value}", value),
    "trial": lambda site, value, table, row: (nct_links(site, value) if NCT.fullmatch(value)
                                              else ids_in_text(site, value) if "NCT" in value else None),
    "item": _report_item,
    "detail": _report_detail,
}


# How a text cell starts if _cell has anything to say about it outside BY_COLUMN: JSON, NCT…, http…, pmid:/pmcid:
GENERIC_FIRST = frozenset("[{Nhp")


def _cell(site: Site, value: str, column: str, table: str | None, row) -> str | None:
    """The HTML of a text cell (escaped throughout), or None to leave it to Datasette."""
    by_column = BY_COLUMN.get(column)
    if by_column is not None:
        markup = by_column(site, value, table, row)
        if markup is not None or column not in ("item", "detail"):
            return markup
    first = value[0]
    if first == "[" or first == "{":
        return json_cell(site, value)
    if first == "N" and NCT.fullmatch(value):
        return nct_links(site, value)
    if first == "h" and value.startswith(("https://", "http://")) and not any(c.isspace() for c in value):
        return out(value, f"{value} (another site)", value)
    if first == "p" and (value.startswith("pmid:") and PMID.fullmatch(value, 5)
                         or value.startswith("pmcid:") and PMCID.fullmatch(value, 6)):
        return id_in_text(site, value)
    return None


def _labelled(site: Site, value: dict, column: str) -> str | None:
    """A foreign key Datasette found the row of ({"value", "label"}): Datasette's own link, and the link out."""
    key, label = str(value["value"]), value["label"]
    if column in ("nct_id", "alias_of"):
        table, found = "trials", (CTGOV + key, f"{key} on ClinicalTrials.gov") if NCT.fullmatch(key) else None
    elif column == "article_id":
        table, found = "articles", article_out(key)
    elif column == "author_id" and key.startswith("orcid:"):
        orcid = orcid_out(key.removeprefix("orcid:"))
        table, found = "authors", (orcid, f"{key} on ORCID") if orcid else None
    else:
        return None
    if not found:
        return None
    href = site.row(table, key)
    link = (f'<a href="{href}">{escape(str(label))}</a>&nbsp;<em>{escape(key)}</em>'
            if label and label != key else inside(href, key))
    return f"{link}{NBSP}{out(*found)}"


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if type(value) is str:
        if not value or (value[0] not in GENERIC_FIRST and column not in BY_COLUMN):
            return None  # most cells: plain text
        markup = _cell(Site(datasette, database), value, column, table, row)
    elif type(value) is dict and "label" in value:
        markup = _labelled(Site(datasette, database), value, column)
    else:
        return None
    return None if markup is None else Markup(markup)
