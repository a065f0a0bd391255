"""kb.pages and kb/templates: the pages of the served KB beyond cells (home page, row pages laid out vertically, ids
shown short, the page of a trial without a registry record, the glossary below the rows). Pages come from
Datasette's test client on the fixtures KB (tests/fixture_kb.py); the browser tests look at them in chromium."""

from __future__ import annotations

import pytest
import sqlite_utils
from bs4 import BeautifulSoup
from datasette.utils import tilde_encode
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup, escape

from kb import pages
from kb.serve import DATABASE
from kb.store.schema import TABLES

from .fixture_kb import NCT, SEED_ARTICLE
from .test_datasette import SEED_TRIAL, get_ok

pytestmark = pytest.mark.anyio


async def soup(datasette, path: str) -> BeautifulSoup:
    return BeautifulSoup((await get_ok(datasette, path)).text, "lxml")


async def test_home_page_lists_what_a_reviewer_opens_first(datasette):
    page = await soup(datasette, "/")
    start = [a.get_text() for a in page.select("ul.kb-start a")]
    assert start[:6] == ["Trial report", "Inconsistencies", "Checks at a glance", "Trials", "articles", "checks"]
    for anchor in page.select("ul.kb-start a"):
        await get_ok(datasette, anchor["href"])


async def test_a_row_page_shows_one_line_per_column_with_its_meaning(datasette, fixture_kb):
    page = await soup(datasette, f"/{DATABASE}/articles/{tilde_encode(SEED_ARTICLE)}")
    lines = page.select("table.kb-row tr")
    assert [tr.th.contents[0].strip() for tr in lines] == list(TABLES["articles"][0])
    abstract = next(tr for tr in lines if tr.th.contents[0].strip() == "abstract")
    stored = sqlite_utils.Database(fixture_kb)["articles"].get(SEED_ARTICLE)["abstract"]
    assert abstract.td.get_text() == stored  # the whole text, not cut
    help_texts = {tr.th.contents[0].strip(): tr.th.select_one(".kb-help") for tr in lines}
    assert help_texts["pub_date"].get_text().startswith("Publication date")


async def test_long_row_ids_are_shown_short_with_the_whole_id_as_title(datasette, fixture_kb):
    page = await soup(datasette, f"/{DATABASE}/results?subject={NCT}&_size=5")
    results = sqlite_utils.Database(fixture_kb)["results"]
    anchors = [td.a for td in page.select("table.rows-and-columns td.type-pk")]
    assert len(anchors) == 5
    for anchor in anchors:
        assert results.count_where("id = ? and subject = ?", [anchor["title"], NCT]) == 1  # the whole id
        assert anchor.get_text() == pages.shortened(anchor["title"]) != anchor["title"]  # shown short
    for anchor in anchors:
        await get_ok(datasette, anchor["href"])  # the link still leads to the row


@given(st.text(alphabet="NCT0123456789/.[]abcpmid:", max_size=120))
def test_a_shortened_id_is_short_and_keeps_its_subject_and_last_step(row_id):
    shown = pages.shortened(row_id)
    assert len(shown) <= pages.SHORT_FORM
    if len(row_id) <= pages.LONGEST_SHOWN:
        assert shown == row_id
    elif " \u2026 " in shown:
        head, tail = shown.split(" \u2026 ")
        assert row_id.startswith(head) and row_id.endswith(tail)


def test_short_id_leaves_anything_but_a_row_link_alone():
    link = Markup('<a href="/kb/results/x">') + escape("NCT00791778/registry/" + "a.b" * 20) + Markup("</a>")
    assert 'title="NCT00791778/registry/' in pages.short_id(link)
    assert pages.short_id(Markup("<b>x</b>")) == Markup("<b>x</b>")


async def test_a_trial_without_a_registry_record_has_a_page_saying_so(datasette):
    response = await datasette.client.get(f"/{DATABASE}/trials/{SEED_TRIAL}")
    assert response.status_code == 404
    notice = BeautifulSoup(response.text, "lxml").select_one(".kb-notice")
    assert notice.get_text(" ", strip=True).startswith(f"No registry record harvested for {SEED_TRIAL}")
    assert f"kb build --nct {SEED_TRIAL}" in notice.get_text()
    report = notice.find("a", string="trial report")["href"]
    rows = (await get_ok(datasette, report.replace("trial_report?", "trial_report.json?_shape=array&"))).json()
    assert rows[0]["section"] == "notice" and rows[0]["item"] == "registry record"
    other = await datasette.client.get(f"/{DATABASE}/checks/no-such-check")
    assert other.status_code == 404 and "kb-notice" not in other.text  # other 404s stay Datasette's


async def test_the_column_glossary_comes_after_the_rows(datasette):
    css = (await get_ok(datasette, "/kb-static/kb.css")).text
    assert "dl.column-descriptions { order: 1" in css
    page = await soup(datasette, f"/{DATABASE}/checks")
    assert page.select_one('link[href="/kb-static/kb.css"]')
