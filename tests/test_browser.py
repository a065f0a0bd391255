"""A real browser on the served KB: `kb serve` runs as its own process on a free loopback port, Debian's chromium
(driven by Playwright) opens the pages a person would, and each test saves a screenshot under its tmp_path.

The browser may reach 127.0.0.1 only: chromium resolves no other host name, and every request for another host is
aborted and recorded, so a page that depends on a CDN fails its test. scripts/test.sh installs chromium.
"""

from __future__ import annotations

import re
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


def test_trial_report_shows_the_trial_and_its_verdicts(page, served, kb_copy, tmp_path, elsewhere, script_errors):
    sentence = stored(kb_copy, "select detail from checks where subject = ? and verdict = 'consistent' "
                               "order by id limit 1", [NCT])
    visit(page, f"{served}kb/trial_report?nct={NCT}", tmp_path / "trial_report.png")
    expect(page.get_by_role("heading", name="Trial report")).to_be_visible()
    expect(page.get_by_role("cell", name=stored(kb_copy, "select brief_title from trials where nct_id = ?", [NCT]),
                            exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name=sentence, exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="inconsistent (decision error)", exact=True)).to_be_visible()
    assert elsewhere == [] and script_errors == []


def test_inconsistencies_show_each_verdict_with_its_sentence(page, served, kb_copy, tmp_path, elsewhere,
                                                             script_errors):
    sentence = stored(kb_copy, "select detail from checks where subject = ? and verdict = 'inconsistent'",
                      [SEED_ARTICLE])
    visit(page, f"{served}kb/inconsistencies", tmp_path / "inconsistencies.png")
    expect(page.get_by_role("heading", name="Inconsistencies")).to_be_visible()
    expect(page.get_by_role("cell", name=sentence, exact=True)).to_be_visible()
    first_row = page.locator("table.rows-and-columns tbody tr").first
    expect(first_row.locator("td.col-decision_error")).to_have_text("yes")
    assert elsewhere == [] and script_errors == []


def test_dashboard_draws_the_charts_offline(page, served, tmp_path, elsewhere, script_errors):
    visit(page, f"{served}-/dashboards/checks", tmp_path / "dashboard.png")
    for chart in ("verdicts-per-trial", "verdicts-per-kind", "before-after"):
        expect(page.locator(f"#chart-{chart} svg.marks")).to_be_visible()
    page.screenshot(path=tmp_path / "dashboard.png", full_page=True)  # again, with every chart drawn
    assert page.evaluate("window.__pwned") is None  # a measure holding markup is in the before/after legend
    assert elsewhere == [] and script_errors == []


@pytest.mark.parametrize("path", [f"kb/articles/{tilde_encode(MARKUP_ARTICLE)}", "kb/articles?_search=markupword"])
def test_markup_in_harvested_text_is_shown_as_text(page, served, tmp_path, elsewhere, script_errors, path):
    visit(page, served + path, tmp_path / "markup.png")
    assert page.evaluate("window.__pwned") is None
    expect(page.get_by_text(MARKUP).first).to_be_visible()
    assert page.locator("b", has_text="bold").count() == 0
    assert elsewhere == [] and script_errors == []
