"""A full-text table as the article prints it, each checked cell linked to its checks (`kb.serve.datasette_for`
registers this plugin): /kb/-/table/<article_tables.id>, e.g. /kb/-/table/pmid:11960557/table/0.

The grid is rebuilt from `table_cells` (spans as stored), header cells as the table's head; a cell whose number
entered a check (a `results` row of kind `table` at the cell's path, named in the check's `uses`) is coloured by its
worst verdict and links to each of its checks, the sentence as the link's title. Read-only, one table per page.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, unquote

from datasette import hookimpl
from datasette.utils import tilde_encode
from datasette.utils.asgi import NotFound, Response

from kb.pages import DATABASE

SEVERITY = ("inconsistent", "consistent_if_truncated", "not_checkable", "consistent")
_CELL = re.compile(r"/cell\[(\d+),(\d+)\]$")
CHECKS_OF_CELLS = """
select r.path, c.id, c.verdict, c.detail
from results r join checks c on c.subject = r.subject
  and exists (select 1 from json_each(c.uses) u where u.value = r.id)
where r.subject = :article and r.kind = 'table' and substr(r.path, 1, length(:path) + 6) = :path || '/cell['
order by c.id
"""


async def table_page(datasette, request):
    table_id = unquote(request.url_vars["table_id"])
    db = datasette.get_database(DATABASE)
    found = (await db.execute("select * from article_tables where id = ?", [table_id])).rows
    if not found:
        raise NotFound(f"No full-text table {table_id} in this KB")
    table = dict(found[0])
    table["footnotes"] = json.loads(table["footnotes"] or "[]")  # kb.load.fulltext stores the parser's list
    cells = [dict(r) for r in (await db.execute(
        "select * from table_cells where table_id = ? order by row, col", [table_id])).rows]
    checks: dict[tuple[int, int], list[dict]] = {}
    for row in (await db.execute(CHECKS_OF_CELLS, {"article": table["article_id"], "path": table["path"]})).rows:
        if place := _CELL.search(row["path"]):
            checks.setdefault((int(place[1]) - 1, int(place[2]) - 1), []).append(dict(row))
    by_row: dict[int, list[dict]] = {}
    for cell in cells:  # ordered by row, col
        by_row.setdefault(cell["row"], []).append(cell)
    grid = []
    for r in sorted(by_row):
        line = []
        for cell in by_row[r]:
            own = checks.get((cell["row"], cell["col"]), [])
            worst = min((SEVERITY.index(c["verdict"]) for c in own), default=None)
            line.append({**cell, "checks": [{**c, "href": datasette.urls.row(DATABASE, "checks", tilde_encode(c["id"]))}
                                            for c in own],
                         "verdict": SEVERITY[worst] if worst is not None else None})
        grid.append(line)
    html = await datasette.render_template("article_table.html", {
        "table": table, "grid": grid, "article_href": datasette.urls.row(DATABASE, "articles",
                                                                        tilde_encode(table["article_id"])),
        "cells_href": datasette.urls.table(DATABASE, "table_cells") + f"?table_id={quote(table_id, safe='')}",
        "database": DATABASE},
        request=request)
    return Response.html(html)


@hookimpl
def register_routes():
    return [(rf"^/{DATABASE}/-/table/(?P<table_id>.+)$", table_page)]
