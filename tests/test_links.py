"""kb.links, trial-kb's `render_cell` plugin: ids as links (to their rows in the site, and out), JSON shown readably,
harvested text still escaped. Pages come from Datasette's test client on the fixtures KB (tests/fixture_kb.py)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from urllib.parse import urlencode, urlsplit

import pytest
import sqlite_utils
from bs4 import BeautifulSoup
from datasette.utils import tilde_decode, tilde_encode
from hypothesis import given
from hypothesis import strategies as st

from kb import links, pages
from kb.serve import DATABASE, datasette_for
from kb.store.schema import TABLES

from .fixture_kb import MARKUP, MARKUP_ARTICLE, NCT, SEED_ARTICLE, add_markup_article, copy_kb
from .test_datasette import QUERIES, SEED_TRIAL, get_ok

pytestmark = pytest.mark.anyio
OUT_HOSTS = {"clinicaltrials.gov", "pubmed.ncbi.nlm.nih.gov", "doi.org", "www.ncbi.nlm.nih.gov", "orcid.org"}
# Each canned query with parameters that give it rows, and its columns that hold ids
CANNED = {
    "trial_report": ({"nct": NCT}, ["item", "check_id"]),
    "inconsistencies": ({}, ["subject", "trial", "check_id"]),
    "registry_vs_publication": ({"nct": ""}, ["nct_id", "article_id"]),
    "byline": ({"article": SEED_ARTICLE}, ["author_id", "article_id"]),
    "regimen_schedule": ({"subject": NCT}, ["subject"]),
    "history": ({"nct": NCT}, ["snapshot_id"]),
}
# Row ids of tables whose id is not their own primary key's name
ROW_ID = {"trials": "nct_id", "articles": "article_id", "authors": "author_id", "affiliations": "affiliation_id"}


async def soup(datasette, path: str) -> BeautifulSoup:
    return BeautifulSoup((await get_ok(datasette, path)).text, "lxml")


def cells(page: BeautifulSoup, column: str) -> list:
    """The cells of `column`: of a table or query page, or of a row page (kb/templates/row.html, one line a column)."""
    return page.select(f"table.rows-and-columns td.col-{column}, table.kb-row td.col-{column}")


def render(datasette, value, column, table=None, row=None):
    html = links.render_cell(row=row, value=value, column=column, table=table, database=DATABASE, datasette=datasette)
    return None if html is None else str(html)


def row_exists(kb_path, href: str) -> bool:
    """Whether the row an in-site link /kb/<table>/<tilde-encoded id> points at is in the KB."""
    _, _, table, key = urlsplit(href).path.split("/", 3)
    with closing(sqlite3.connect(kb_path)) as conn:
        pk = ROW_ID.get(table, "id")
        return conn.execute(f"select count(*) from [{table}] where [{pk}] = ?", [tilde_decode(key)]).fetchone()[0] > 0


# --- every canned query's ids are links ------------------------------------------------------------------------------


def test_every_canned_query_is_covered():
    assert set(CANNED) == set(QUERIES)


@pytest.mark.parametrize("query", list(CANNED))
async def test_every_id_in_a_canned_query_is_a_link(datasette, fixture_kb, query):
    params, columns = CANNED[query]
    page = await soup(datasette, f"/{DATABASE}/{query}?{urlencode(params)}")
    linked = 0
    for column in columns:
        found = cells(page, column)
        assert found, f"{query} shows no {column}"
        for cell in found:
            text = cell.get_text(" ", strip=True)
            if query == "trial_report" and cell.find_parent("tr").select_one("td.col-section").get_text() != "article":
                continue  # the item of a trial, regimen, endpoint or check line is not an id
            if not text:
                continue
            anchors = cell.find_all("a")
            assert anchors, f"{query}.{column}: {text!r} is not a link"
            for anchor in anchors:
                href = anchor["href"]
                if href.startswith("/"):
                    response = await datasette.client.get(href)
                    # a link inside the site reaches its row, unless the KB has no such row (a trial whose record
                    # was not harvested)
                    assert response.status_code == 200 or not row_exists(fixture_kb, href), href
                else:
                    assert urlsplit(href).hostname in OUT_HOSTS and anchor["rel"] == ["noopener"], href
            linked += 1
    assert linked


async def test_canned_query_ids_lead_to_their_rows_and_out(datasette):
    page = await soup(datasette, f"/{DATABASE}/inconsistencies")
    seed = next(cell for cell in cells(page, "subject") if cell.get_text(strip=True).startswith(SEED_ARTICLE))
    assert [a["href"] for a in seed.find_all("a")] == [f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}",
                                                        "https://pubmed.ncbi.nlm.nih.gov/32009091/"]
    trial = seed.find_parent("tr").select_one("td.col-trial")
    assert [a["href"] for a in trial.find_all("a")] == [f"/{DATABASE}/trials/{SEED_TRIAL}",
                                                        f"https://clinicaltrials.gov/study/{SEED_TRIAL}"]
    check = seed.find_parent("tr").select_one("td.col-check_id a")
    assert check["href"] == f"/{DATABASE}/checks/{tilde_encode(check.get_text())}"
    assert (await datasette.client.get(check["href"])).status_code == 200


async def test_trial_report_links_harvested_articles_to_their_rows_and_every_article_out(datasette):
    page = await soup(datasette, f"/{DATABASE}/trial_report?nct={SEED_TRIAL}")
    [item] = [cell for cell in cells(page, "item") if cell.get_text(strip=True).startswith(SEED_ARTICLE)]
    assert item.a["href"] == f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}"
    detail = item.find_parent("tr").select_one("td.col-detail")
    assert detail.get_text() == "linked by abstract; doi:10.2169/internalmedicine.3800-19\u00a0↗"
    assert [a["href"] for a in detail.find_all("a")] == ["https://doi.org/10.2169/internalmedicine.3800-19"]
    page = await soup(datasette, f"/{DATABASE}/trial_report?nct={NCT}")
    [unharvested] = [cell for cell in cells(page, "item") if cell.get_text(strip=True).startswith("pmid:23591401")]
    assert [a["href"] for a in unharvested.find_all("a")] == ["https://pubmed.ncbi.nlm.nih.gov/23591401/"]


# --- links out -------------------------------------------------------------------------------------------------------


async def test_article_identifiers_link_out(datasette):
    page = await soup(datasette, f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}")
    expected = {"pmid": "https://pubmed.ncbi.nlm.nih.gov/32009091/",
                "pmcid": "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC7270764/",
                "doi": "https://doi.org/10.2169/internalmedicine.3800-19"}
    for column, url in expected.items():
        [anchor] = cells(page, column)[0].find_all("a")
        assert anchor["href"] == url and anchor["rel"] == ["noopener"] and anchor["title"]


async def test_nct_ids_link_to_the_registry(datasette):
    page = await soup(datasette, f"/{DATABASE}/article_trials")  # nct_id: Datasette's link to the row, and out
    for cell in cells(page, "nct_id"):
        hrefs = [a["href"] for a in cell.find_all("a")]
        nct = hrefs[0].rsplit("/", 1)[1]
        assert hrefs == [f"/{DATABASE}/trials/{nct}", f"https://clinicaltrials.gov/study/{nct}"]


def test_every_kind_of_identifier_links_out(datasette):
    assert 'href="https://orcid.org/0000-0002-1825-0097"' in render(datasette, "0000-0002-1825-0097", "orcid")
    author = render(datasette, "orcid:0000-0002-1825-0097", "author_id")
    assert f'href="/{DATABASE}/authors/orcid~3A0000-0002-1825-0097"' in author
    assert 'href="https://orcid.org/0000-0002-1825-0097"' in author
    pmc = "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC7270764/"
    assert f'href="{pmc}"' in render(datasette, "pmcid:PMC7270764", "subject")
    # a PMCID or a DOI outside an article id column leads out only: the article's row is under its PMID
    assert render(datasette, "pmcid:PMC7270764", "anything").count("href") == 1
    detail = render(datasette, "see doi:10.1000/x.", "detail", row={"section": "article"})
    assert detail.count("href") == 1 and 'href="https://doi.org/10.1000/x"' in detail and detail.endswith("</a>.")
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/23591401/"' in render(datasette, "23591401", "pmid")
    assert 'href="https://clinicaltrials.gov/study/NCT00791778"' in render(datasette, NCT, "anything")
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/32009091/"' in render(datasette, SEED_ARTICLE, "anything")
    assert 'href="https://doi.org/10.1000/a%23b%3Fc"' in render(datasette, "10.1000/a#b?c", "doi")
    url = render(datasette, "https://example.org/a?b=1&c=2", "url", "snapshots")  # Datasette links URLs, without rel
    assert 'href="https://example.org/a?b=1&amp;c=2" rel="noopener" title=' in url


def test_what_is_not_an_identifier_is_left_to_datasette(datasette):
    for value, column in [("NCT0079177", "nct_id"), ("hello", "title"), ("[Efficacy of X] in Y", "title"),
                          ("PMID 1", "pmid"), ("abc", "orcid"), ("not a doi", "doi"), (42, "pmid"), (None, "nct_id"),
                          ("", "subject"), ("[]", "keywords"), (b"NCT00791778", "body")]:
        assert render(datasette, value, column) is None, (value, column)


@pytest.mark.parametrize("path", [f"/{DATABASE}/trials/{NCT}", f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}",
                                  f"/{DATABASE}/inconsistencies", f"/{DATABASE}/checks", f"/{DATABASE}/results",
                                  f"/{DATABASE}/snapshots", f"/{DATABASE}/trial_report?nct={NCT}"])
async def test_links_out_are_marked_and_nothing_loads_from_another_host(datasette, path):
    page = await soup(datasette, path)
    outward = [a for a in page.find_all("a", href=True) if urlsplit(a["href"]).scheme in ("http", "https")]
    in_cells = [a for a in outward if a.find_parent("td")]
    assert in_cells or "snapshots" in path
    for anchor in in_cells:
        assert anchor["rel"] == ["noopener"] and anchor["title"], anchor
    for tag, attribute in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
        for element in page.find_all(tag, **{attribute: True}):
            assert urlsplit(element[attribute]).hostname in (None, "localhost"), element  # the site itself


async def test_row_pages_of_a_trial_and_an_article_lead_to_what_belongs_to_them(datasette):
    for path, column, names in [
        (f"/{DATABASE}/trials/{NCT}", "nct_id",
         ["trial report", "articles", "checks", "endpoints compared", "results", "drug schedule", "history"]),
        (f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}", "article_id",
         ["authors", "checks", "results", "endpoints", "full-text tables", "drug schedule"]),
    ]:
        [cell] = cells(await soup(datasette, path), column)
        inside = {a.get_text(): a["href"] for a in cell.find_all("a") if a["href"].startswith("/")}
        assert list(inside) == names
        for name, href in inside.items():
            rows = (await soup(datasette, href)).select("table.rows-and-columns tbody tr")
            assert rows or name == "full-text tables", href  # the seed article has no full text in the fixtures


# --- ids inside JSON -------------------------------------------------------------------------------------------------


def test_every_stored_row_id_names_its_table(fixture_kb):
    """The shape of a stored row's id tells its table (kb.links.row_table), for every row that has one, and every
    id a check uses is a row of that table."""
    db = sqlite_utils.Database(fixture_kb)
    for table in ("results", "endpoints", "regimen", "baseline_measurements", "adverse_events", "participant_flow"):
        assert "id" in TABLES[table][0]
        ids = [row["id"] for row in db[table].rows]
        assert ids and {links.row_table(row_id) for row_id in ids} == {table}, table
    used = {row_id for check in db["checks"].rows for row_id in json.loads(check["uses"] or "[]")}
    assert used
    for row_id in used:
        assert db[links.row_table(row_id)].count_where("id = ?", [row_id]) == 1, row_id


async def test_ids_a_check_uses_link_to_their_rows(datasette, fixture_kb):
    db = sqlite_utils.Database(fixture_kb)
    check = next(db["checks"].rows_where("json_array_length(uses) > 2", order_by="id"))
    [cell] = cells(await soup(datasette, f"/{DATABASE}/checks/{tilde_encode(check['id'])}"), "uses")
    anchors = cell.find_all("a")
    used = json.loads(check["uses"])
    assert [a["title"].split(": its row in ")[0] for a in anchors] == used  # the whole id in the title
    assert [a.get_text() for a in anchors] == [pages.shortened(row_id) for row_id in used]  # shown short
    assert cell.get_text() == ", ".join(map(pages.shortened, used))  # a list, shown as a list
    for anchor in anchors:
        await get_ok(datasette, anchor["href"])


@given(st.text(alphabet="aZ09_-/.:[]~%+ &<\"é") | st.text())
def test_row_keys_are_encoded_as_datasette_encodes_them(key):
    assert links.row_key(key) == tilde_encode(key)


# --- JSON shown readably ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number, shown", [
    (0.6593715544313752, "0.6594"), (0.6990301529406149, "0.699"), (8.6123e-05, "0.00008612"), (194.0, "194"),
    (-0.04996123, "-0.04996"), (1234567.89, "1235000"), (1e-10, "1e-10"), (12.5, "12.5"), (float("nan"), "nan"),
])
def test_numbers_are_rounded_to_four_significant_digits(number, shown):
    assert pages.rounded(number) == shown


async def test_json_numbers_are_rounded_on_the_page_and_full_in_the_json_api(datasette, fixture_kb):
    check = sqlite_utils.Database(fixture_kb)["checks"].get(f"{NCT}/p_from_ratio_ci/1")
    recomputed = json.loads(check["recomputed"])
    full = recomputed["z from the CI, two-sided"]
    row = f"/{DATABASE}/checks/{tilde_encode(check['id'])}"
    [cell] = cells(await soup(datasette, row), "recomputed")
    assert cell.get_text("\n").splitlines()[0] == f"z from the CI, two-sided: [{pages.rounded(full[0])}, " \
                                                  f"{pages.rounded(full[1])}]"
    assert len(cell.find_all("br")) == len(recomputed) - 1  # an object: one line per key
    assert repr(full[0]) not in str(cell)
    api = (await get_ok(datasette, f"{row}.json?_shape=array")).json()
    assert json.loads(api[0]["recomputed"]) == recomputed  # every digit, as stored
    [inputs] = cells(await soup(datasette, row), "inputs")
    assert "estimate: 1.09" in inputs.get_text("\n").splitlines()


async def test_json_lists_are_shown_as_lists(datasette):
    page = await soup(datasette, f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}")
    assert cells(page, "keywords")[0].get_text() == "POEMS syndrome, VEGF, clinical trial, lenalidomide, thalidomide"
    assert cells(page, "sources")[0].get_text() == "PubMed, Crossref, J-STAGE, Europe PMC"
    assert cells(page, "field_sources")[0].get_text("\n").splitlines()[0] == "abstract: PubMed"
    trial = await soup(datasette, f"/{DATABASE}/trials/{NCT}")
    assert cells(trial, "std_ages")[0].get_text() == "ADULT, OLDER_ADULT"
    versions = await soup(datasette, f"/{DATABASE}/trial_versions/{NCT},2")
    lines = cells(versions, "changed_fields")[0].get_text("\n").splitlines()
    assert lines[0] == "path: protocolSection.statusModule.lastUpdatePostDateStruct.date; old: 2015-09-28; " \
                       "new: 2030-01-15"


# --- harvested text is still shown as text ---------------------------------------------------------------------------


@pytest.fixture
def markup_kb(fixture_kb, tmp_path):
    """The fixtures KB with an article whose texts hold markup, its ids and JSON columns too, and a check of it."""
    path = copy_kb(fixture_kb, tmp_path / "kb.db")
    db = sqlite_utils.Database(path)
    add_markup_article(db)
    db["articles"].update(MARKUP_ARTICLE, {"keywords": json.dumps([MARKUP, 0.123456789]),
                                           "field_sources": json.dumps({MARKUP: MARKUP}),
                                           "pmid": MARKUP, "pmcid": MARKUP})
    db["article_trials"].insert({"article_id": MARKUP_ARTICLE, "nct_id": NCT, "evidence": MARKUP})
    db["checks"].insert({"id": f"{MARKUP_ARTICLE}/{MARKUP}/1", "subject": MARKUP_ARTICLE, "kind": MARKUP,
                         "inputs": json.dumps({MARKUP: [MARKUP, {"n": MARKUP}]}), "reported": MARKUP,
                         "verdict": "inconsistent", "detail": MARKUP,
                         "uses": json.dumps([f"{MARKUP_ARTICLE}/publication/result/{MARKUP}", MARKUP])})
    return path


async def test_markup_in_linked_or_json_cells_is_shown_as_text(markup_kb):
    datasette = datasette_for(markup_kb)
    escaped = MARKUP.replace("<", "&lt;").replace(">", "&gt;")
    check = f"{MARKUP_ARTICLE}/{MARKUP}/1"
    for path in (f"articles/{tilde_encode(MARKUP_ARTICLE)}", f"results?subject={MARKUP_ARTICLE}",
                 f"checks/{tilde_encode(check)}", f"checks?subject={MARKUP_ARTICLE}", "inconsistencies",
                 f"trial_report?nct={NCT}", "article_trials"):
        page = (await get_ok(datasette, f"/{DATABASE}/{path}")).text
        assert escaped in page and MARKUP not in page and "<b>bold</b>" not in page, path


def test_every_rendered_text_is_escaped(datasette):
    hostile = '"><script>alert(1)</script>'
    for value, column, table, row in [
        (f"10.1000/{hostile}", "doi", "articles", None), (f"doi:10.1000/{hostile}", "subject", "results", None),
        (f"pmid:1 {hostile}", "article_id", "article_trials", None), (f"x{hostile}", "check_id", None, None),
        (json.dumps({hostile: [hostile, 1.5]}), "inputs", "checks", None), (json.dumps([hostile]), "uses", None, None),
        (f"{NCT}, {hostile}", "trial", None, None), (f"https://example.org/{hostile}", "url", "snapshots", None),
        (f"doi:10.1/x; {hostile}", "detail", None, {"section": "article"}),
        ({"value": f"doi:10.1/{hostile}", "label": hostile}, "article_id", "article_trials", None),
    ]:
        html = render(datasette, value, column, table, row)
        assert html and "<script>" not in html and "&lt;script&gt;" in html, (value, column)
