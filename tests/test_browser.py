"""A real browser on the served KB: `kb serve` runs as its own process on a free loopback port, Debian's chromium
(driven by Playwright) opens the pages a person would, and each test saves screenshots as its artefacts: under
test-artifacts/screenshots/<test>/ of the repository (kept between runs, ignored by git), or $KB_TEST_ARTIFACTS.

The browser may reach 127.0.0.1 only: chromium resolves no other host name, and every request for another host is
aborted and recorded, so a page that depends on a CDN fails its test. scripts/test.sh installs chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlite_utils
from datasette.utils import tilde_encode
from playwright.sync_api import expect, sync_playwright

from .fixture_kb import (
    MARKUP,
    MARKUP_ARTICLE,
    NCT,
    SEED_ARTICLE,
    add_markup_article,
    copy_kb,
)
from .test_datasette import SEED_TRIAL

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
SERVE = [sys.executable, "-c", "from kb.cli import serve; serve()"]  # the `kb serve` command, as its own process


@pytest.fixture(scope="module")
def kb_copy(fixture_kb, tmp_path_factory) -> Path:
    """The fixtures KB plus an article whose texts hold markup."""
    path = copy_kb(fixture_kb, tmp_path_factory.mktemp("served") / "kb.db")
    with sqlite_utils.Database(path) as db:
        add_markup_article(db)
    return path


@pytest.fixture(scope="module")
def served(kb_copy):
    """The URL `kb serve --port 0` prints, while it serves the KB copy."""
    log = kb_copy.with_suffix(".log").open("w")
    process = subprocess.Popen([*SERVE, "--db", str(kb_copy), "--port", "0"], stdout=subprocess.PIPE, stderr=log,
                               text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, f"kb serve printed {line!r}; log: {kb_copy.with_suffix('.log').read_text()}"
        yield url[0]
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture
def shots(request) -> Path:
    """Where the test's screenshots are kept (a directory per test, emptied when it starts)."""
    root = Path(os.environ.get("KB_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts"))
    folder = root / "screenshots" / re.sub(r"[^\w.-]", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: scripts/test.sh installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def elsewhere() -> list[str]:
    """Requests a page made to any host but the served one (aborted)."""
    return []


@pytest.fixture
def script_errors() -> list[str]:
    return []


@pytest.fixture
def page(browser, elsewhere, script_errors):
    context = browser.new_context(viewport={"width": 1400, "height": 900})

    def loopback_only(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    yield page
    context.close()


def visit(page, url: str, screenshot: Path):
    page.goto(url, wait_until="networkidle")
    page.screenshot(path=screenshot, full_page=True)


def stored(kb_path: Path, sql: str, params=()) -> str:
    with sqlite_utils.Database(kb_path) as db:
        return db.execute(sql, params).fetchone()[0]


def test_trial_report_shows_the_trial_and_its_verdicts(page, served, kb_copy, shots, elsewhere, script_errors):
    sentence = stored(kb_copy, "select detail from checks where subject = ? and verdict = 'consistent' "
                               "order by id limit 1", [NCT])
    visit(page, f"{served}kb/trial_report?nct={NCT}", shots / "trial_report.png")
    expect(page.get_by_role("heading", name="Trial report")).to_be_visible()
    expect(page.get_by_role("cell", name=stored(kb_copy, "select brief_title from trials where nct_id = ?", [NCT]),
                            exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=sentence, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="inconsistent (decision error)", exact=True)).to_be_visible()
    assert elsewhere == [] and script_errors == []


def test_inconsistencies_show_each_verdict_with_its_sentence(page, served, kb_copy, shots, elsewhere,
                                                             script_errors):
    sentence = stored(kb_copy, "select detail from checks where subject = ? and verdict = 'inconsistent'",
                      [SEED_ARTICLE])
    visit(page, f"{served}kb/inconsistencies", shots / "inconsistencies.png")
    expect(page.get_by_role("heading", name="Inconsistencies")).to_be_visible()
    expect(page.get_by_role("cell", name=sentence, exact=True)).to_be_visible()
    first_row = page.locator("table.rows-and-columns tbody tr").first
    expect(first_row.locator("td.col-decision_error")).to_have_text("yes")
    assert elsewhere == [] and script_errors == []


def test_dashboard_draws_the_charts_offline(page, served, shots, elsewhere, script_errors):
    visit(page, f"{served}-/dashboards/checks", shots / "dashboard.png")
    for chart in ("verdicts-per-trial", "verdicts-per-kind", "before-after"):
        expect(page.locator(f"#chart-{chart} svg.marks")).to_be_visible()
    page.screenshot(path=shots / "dashboard.png", full_page=True)  # again, with every chart drawn
    assert page.evaluate("window.__pwned") is None  # a measure holding markup is in the before/after legend
    assert elsewhere == [] and script_errors == []


@pytest.mark.parametrize("path", [f"kb/articles/{tilde_encode(MARKUP_ARTICLE)}", "kb/articles?_search=markupword"])
def test_markup_in_harvested_text_is_shown_as_text(page, served, shots, elsewhere, script_errors, path):
    visit(page, served + path, shots / "markup.png")
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_text(MARKUP).first).to_be_visible()
    assert page.locator("b", has_text="bold").count() == 0
    assert elsewhere == [] and script_errors == []


# --- a reviewer's way through the site (issue 15) ---------------------------------------------------------------


def fits_the_width(page, locator) -> bool:
    """Whether the element lies within the window's width (seen without scrolling sideways) and the page does not
    scroll sideways at all."""
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width \
        and page.evaluate("document.documentElement.scrollWidth") <= width


def test_from_a_trial_row_to_its_report_and_checks_in_clicks(page, served, kb_copy, shots, elsewhere,
                                                              script_errors):
    visit(page, f"{served}kb/trials/{NCT}", shots / "trial_row.png")
    brief_title = stored(kb_copy, "select brief_title from trials where nct_id = ?", [NCT])
    expect(page.get_by_role("cell", name=brief_title, exact=True)).to_be_visible()
    page.get_by_role("link", name="trial report", exact=True).click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / "trial_report.png", full_page=True)
    expect(page.get_by_role("heading", name="Trial report")).to_be_visible()
    expect(page.get_by_role("cell", name=brief_title, exact=True)).to_be_visible()
    page.go_back()
    page.get_by_role("link", name="checks", exact=True).click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / "checks.png", full_page=True)
    count = stored(kb_copy, "select count(*) from checks where subject = ?", [NCT])
    expect(page.get_by_role("heading", name=re.compile(f'^{count} rows? where subject = "{NCT}"'))).to_be_visible()
    assert elsewhere == [] and script_errors == []


def test_the_abstract_is_visible_on_the_article_page(page, served, kb_copy, shots, elsewhere, script_errors):
    page.set_viewport_size({"width": 1400, "height": 900})
    visit(page, f"{served}kb/articles/{tilde_encode(SEED_ARTICLE)}", shots / "article_row.png")
    abstract = page.locator("table.kb-row td.col-abstract")
    expect(abstract).to_have_text(stored(kb_copy, "select abstract from articles where article_id = ?",
                                         [SEED_ARTICLE]))
    abstract.scroll_into_view_if_needed()
    expect(abstract).to_be_visible()
    assert fits_the_width(page, abstract)
    assert elsewhere == [] and script_errors == []


def test_a_checks_sentence_is_read_without_scrolling_sideways_at_1280_px(page, served, kb_copy, shots, elsewhere,
                                                                        script_errors):
    page.set_viewport_size({"width": 1280, "height": 900})
    check_id, sentence = (stored(kb_copy, f"select {column} from checks where verdict = 'inconsistent' order by "
                                          "length(uses) desc, id limit 1") for column in ("id", "detail"))
    visit(page, f"{served}kb/checks/{tilde_encode(check_id)}", shots / "check_row.png")
    detail = page.locator("table.kb-row td.col-detail")
    expect(detail).to_have_text(sentence)
    assert fits_the_width(page, detail)
    visit(page, f"{served}kb/inconsistencies", shots / "inconsistencies_1280.png")
    cell = page.get_by_role("cell", name=sentence, exact=True).first
    assert fits_the_width(page, cell)
    assert elsewhere == [] and script_errors == []


def test_a_trial_without_registry_record_says_so(page, served, shots, elsewhere, script_errors):
    visit(page, f"{served}kb/trial_report?nct={SEED_TRIAL}", shots / "trial_report_no_record.png")
    first = page.locator("table.rows-and-columns tbody tr").first
    expect(first.locator("td.col-detail")).to_contain_text(f"No registry record harvested for {SEED_TRIAL}")
    expect(page.get_by_role("cell", name="added", exact=True)).to_have_count(0)
    visit(page, f"{served}kb/article_trials?article_id={SEED_ARTICLE}", shots / "article_trials.png")
    page.get_by_role("link", name=SEED_TRIAL, exact=True).first.click()  # the trial its article names
    page.wait_for_load_state("networkidle")
    page.screenshot(path=shots / "trial_no_record.png", full_page=True)
    expect(page.locator(".kb-notice")).to_contain_text(f"kb build --nct {SEED_TRIAL}")
    assert elsewhere == [] and script_errors == []
