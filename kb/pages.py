"""trial-kb's pages beyond cells (`kb.serve.datasette_for` registers this plugin beside kb.links, which uses it too):
row ids shown short (`short_id`, a filter of kb/templates/_table.html), numbers rounded, the page of a trial
that has no registry record (a bare 404 otherwise, though the KB's pages link every NCT ID they show), and the home page
(kb/templates/index.html) without Datasette's count of every table's rows, the slowest part of its own.

A stored row's id is its subject, source and JSON path (NCT00791778/registry/resultsSection.outcomeMeasuresModule.
outcomeMeasures[0].analyses[0]): exact, but half a page wide in the first column. The link to the row is shown as
the subject and the path's last steps (NCT00791778 … outcomeMeasures[0].analyses[0]), the full id as its title; the
provenance path stays whole in the row's `path` column.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from html import escape

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

DATABASE = "kb"  # the KB's name in every URL (/kb/trials), whatever its file is called (kb.serve)
SIGNIFICANT_DIGITS = 4  # numbers in JSON cells, on the page only (the database and the JSON API keep every digit)
LONGEST_SHOWN = 40  # ids up to this many characters are shown whole (check ids, NCT IDs, article ids)
SHORT_FORM = 44  # longer ids are shown in at most this many characters
_SUBJECT = re.compile(r"NCT\d{8}|pmid:\d+|pmcid:PMC\d+|doi:10\.\d+/[^/]+|[^/]*")  # (kb.derive.rows: ids begin with it)
_TRIAL_ROW = re.compile(rf"/{DATABASE}/trials/(NCT\d{{8}})")
_STEP = re.compile(r"[/.]")
_LINK = re.compile(r'<a href="([^"]*)">([^<]*)</a>')


def shortened(row_id: str) -> str:
    """`row_id` as shown: whole when short, else its subject and the longest end of its path that fits."""
    if len(row_id) <= LONGEST_SHOWN:
        return row_id
    head = _SUBJECT.match(row_id)[0]
    ends = [m.end() for m in _STEP.finditer(row_id, len(head))]
    fits = [i for i in ends if len(head) + len(row_id) - i + 3 <= SHORT_FORM]
    return f"{head} \u2026 {row_id[fits[0]:]}" if fits else row_id[:LONGEST_SHOWN] + "\u2026"


def short_id(link: Markup) -> Markup:
    """Datasette's link to a row (`<a href="…">id</a>`, escaped) with the id shown short and whole in its title."""
    found = _LINK.fullmatch(str(link))
    if not found:
        return link
    row_id = Markup(found[2]).unescape()
    if len(row_id) <= LONGEST_SHOWN:
        return link
    return Markup(f'<a href="{found[1]}" title="{escape(row_id)}">{escape(shortened(row_id))}</a>')


def rounded(number: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """`number` to `digits` significant digits, written without an exponent between 1e-6 and 1e15: 0.6593715544313752
    → 0.6594, 8.6123e-05 → 0.00008612, 194.0 → 194."""
    if not math.isfinite(number):
        return str(number)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    text = f"{number:.{digits}g}"
    if "e" in text and 1e-6 <= abs(number) < 1e15:
        text = format(Decimal(text), "f")
    return text


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["short_id"] = short_id


@hookimpl
def handle_exception(datasette, request, exception):
    """A trial's row page when the KB has no row of it: what is missing, how to get it, and its trial report."""
    found = _TRIAL_ROW.fullmatch(request.path) if isinstance(exception, NotFound) else None
    if not found:
        return None

    async def page():
        report = datasette.urls.table(DATABASE, "trial_report") + f"?nct={found[1]}"
        html = await datasette.render_template(
            "trial_not_harvested.html", {"nct": found[1], "report": report, "database": DATABASE}, request=request)
        return Response.html(html, status=404)

    return page


async def home(datasette, request):
    """The home page: where a reviewer starts, and the databases with their number of tables (no row counts)."""
    databases = [{"name": name, "tables_count": len(await db.table_names())}
                 for name, db in datasette.databases.items() if name != "_internal"]
    html = await datasette.render_template("index.html", {"databases": databases, "metadata": datasette.metadata()},
                                           request=request)
    return Response.html(html)


@hookimpl
def register_routes():
    return [(r"^/$", home)]
