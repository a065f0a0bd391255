"""The KB in Datasette, through Datasette's own test client: metadata, table pages, search, facets, canned queries,
charts, the settings `kb serve` uses, and harvested text shown escaped.

The KB is tests/fixture_kb.py's: recorded responses plus a few SYNTHETIC derived rows (see there).
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from contextlib import closing
from urllib.parse import urlencode

import pytest
import sqlite_utils
from click.testing import CliRunner
from datasette.utils import tilde_encode

from kb.cli import serve
from kb.derive.endpoint_comparison import ENDPOINT_COMPARISON
from kb.serve import DATABASE, SQL_TIME_LIMIT_MS, datasette_for
from kb.store.schema import TABLES

from .fixture_kb import (
    MARKUP,
    MARKUP_ARTICLE,
    NCT,
    SEED_ARTICLE,
    SYNTHETIC_ARTICLE,
    add_markup_article,
    copy_kb,
)

pytestmark = pytest.mark.anyio
QUERIES = ("trial_report", "inconsistencies", "registry_vs_publication", "byline", "regimen_schedule", "history")
SEED_TRIAL = "NCT02193698"
SEED_TITLE = "Lenalidomide Treatment for Thalidomide-refractory POEMS Syndrome"
TRIAL_TITLE = "Comparison of Nexavar/Placebo as Maintenance Therapy for Patients With Advanced Ovarian"


async def get_ok(datasette, path: str):
    response = await datasette.client.get(path)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:500]}"
    return response


async def rows(datasette, query: str, **params) -> list[dict]:
    response = await get_ok(datasette, f"/{DATABASE}/{query}.json?{urlencode({**params, '_shape': 'array'})}")
    return response.json()


def tables_metadata(datasette) -> dict:
    return datasette.metadata()["databases"][DATABASE]["tables"]


# --- metadata --------------------------------------------------------------------------------------------------------


def test_every_table_and_view_is_described_and_every_documented_column_exists(datasette, fixture_kb):
    db = sqlite_utils.Database(fixture_kb)
    documented = tables_metadata(datasette)
    for name in TABLES:
        assert documented.get(name, {}).get("description"), f"{name} has no description"
        columns = {column.name for column in db[name].columns}
        assert set(documented[name].get("columns", {})) <= columns, f"{name}: documented columns not in it"


def test_every_canned_query_is_documented(datasette):
    queries = datasette.metadata()["databases"][DATABASE]["queries"]
    assert set(queries) == set(QUERIES)
    assert all(query["title"] and query["description_html"] for query in queries.values())


@pytest.mark.parametrize("table", list(TABLES))
async def test_table_pages_render_with_their_descriptions(datasette, table):
    page = (await get_ok(datasette, f"/{DATABASE}/{table}")).text
    described = tables_metadata(datasette)[table]
    assert described["description"].split(".")[0].replace("'", "&#39;") in page
    for column in described.get("columns", {}):
        assert f"<dt>{column}</dt>" in page


async def test_column_descriptions_give_units_and_meanings(datasette):
    results = (await get_ok(datasette, f"/{DATABASE}/results")).text
    assert "Decimal places value was reported with" in results and "JSON path in the snapshot" in results
    assert "Character offset of the number in the abstract" in results
    checks = (await get_ok(datasette, f"/{DATABASE}/checks")).text
    assert "consistent (some stated" in checks and "not_checkable (an input is missing" in checks


async def test_snapshot_bodies_stay_downloadable(datasette, fixture_kb):
    snapshot = next(sqlite_utils.Database(fixture_kb)["snapshots"].rows_where("source = 'PubMed'"))
    page = (await get_ok(datasette, f"/{DATABASE}/snapshots/{tilde_encode(snapshot['id'])}")).text
    assert ".blob?_blob_column=body" in page
    blob = await get_ok(datasette, f"/{DATABASE}/snapshots/{tilde_encode(snapshot['id'])}.blob?_blob_column=body")
    assert blob.content == snapshot["body"]


@pytest.mark.parametrize("table, facets", [
    ("checks", {"verdict", "kind"}), ("results", {"source"}), ("trials", {"overall_status", "phase"}),
    ("endpoint_comparison", {"status"}),
])
async def test_default_facets(datasette, table, facets):
    page = (await get_ok(datasette, f"/{DATABASE}/{table}.json")).json()
    assert facets <= set(page["facet_results"])


async def test_foreign_keys_show_labels(datasette):
    query = urlencode({"article_id": SEED_ARTICLE, "_sort": "position", "_labels": "on", "_shape": "array"})
    page = (await get_ok(datasette, f"/{DATABASE}/article_authors.json?{query}")).json()
    assert page[0]["author_id"]["label"] == "Tomoki Suichi" and page[0]["article_id"]["label"].startswith(SEED_TITLE)


@pytest.mark.parametrize("table, word, found", [
    ("articles", "organomegaly", SEED_ARTICLE),  # a word of the abstract only
    ("trials", "Nexavar", NCT),
    ("endpoints", "CA-125", f"{NCT}/registry/protocolSection.outcomesModule.secondaryOutcomes[0]"),
])
async def test_full_text_search(datasette, table, word, found):
    page = (await get_ok(datasette, f"/{DATABASE}/{table}.json?_search={word}&_shape=objects")).json()
    pk = {"articles": "article_id", "trials": "nct_id", "endpoints": "id"}[table]
    assert found in [row[pk] for row in page["rows"]]


# --- canned queries --------------------------------------------------------------------------------------------------


def severity(verdict: str) -> int:
    """Rank of a verdict as the trial report and the inconsistencies query order them (most serious first)."""
    return ["inconsistent (decision error)", "inconsistent", "not_checkable", "consistent"].index(verdict)


async def test_trial_report_puts_registry_and_publication_side_by_side(datasette, fixture_kb):
    report = await rows(datasette, "trial_report", nct=NCT)
    assert [r["section"] for r in report] == sorted((r["section"] for r in report),
                                                    key=["trial", "article", "regimen", "endpoint", "check"].index)
    trial = {r["item"]: r for r in report if r["section"] == "trial"}
    assert trial["title"]["registry"].startswith(TRIAL_TITLE)
    assert trial["enrollment"]["registry"] == "246 participants (actual)"
    articles = {r["item"]: r for r in report if r["section"] == "article"}
    assert set(articles) == {"pmid:23591401", "pmid:37185961", SYNTHETIC_ARTICLE}
    assert articles["pmid:23591401"]["publication"] == "(not harvested)"
    assert articles["pmid:23591401"]["detail"] == "linked by registry reference"
    [regimen] = [r for r in report if r["section"] == "regimen"]
    assert regimen["item"] == "sorafenib" and "400 mg oral twice daily" in regimen["registry"]
    assert regimen["publication"] == "400 mg oral twice daily"
    endpoints = [(r["item"], r["verdict"], r["publication"]) for r in report if r["section"] == "endpoint"]
    assert endpoints[0] == ("primary", "matched", "progression-free survival")
    assert [e[0] for e in endpoints] == sorted((e[0] for e in endpoints), key=["primary", "secondary", "other"].index)
    assert ("secondary", "kind changed", "time to pathologic CA-125") in endpoints
    last_secondary = [e for e in endpoints if e[0] == "secondary"][-1]
    assert last_secondary == ("secondary", "added", "health-related quality of life")
    assert [e[1] for e in endpoints].count("unreported") == 24 - 2  # registered endpoints the article leaves out
    checks = [r for r in report if r["section"] == "check"]
    stored = sqlite_utils.Database(fixture_kb)["checks"].count_where("subject in (?, ?)", [NCT, SYNTHETIC_ARTICLE])
    assert len(checks) == stored and checks[0]["detail"].endswith("this is a decision error, since the recomputed p "
                                                                  "lies on the other side of 0.05.")
    assert [severity(c["verdict"]) for c in checks] == sorted(severity(c["verdict"]) for c in checks)
    assert all(c["detail"] for c in checks)
    ids = sqlite_utils.Database(fixture_kb)["checks"]
    assert all(ids.count_where("id = ? and kind = ?", [c["check_id"], c["item"]]) == 1 for c in checks)
    assert {r["check_id"] for r in report if r["section"] != "check"} == {None}


async def test_trial_report_of_the_seed_trial_shows_its_article_and_schedule(datasette):
    report = await rows(datasette, "trial_report", nct=SEED_TRIAL)  # its registry record is not in the fixtures
    [article] = [r for r in report if r["section"] == "article"]
    assert article["item"] == SEED_ARTICLE and article["publication"].startswith(SEED_TITLE)
    assert article["detail"] == "linked by abstract; doi:10.2169/internalmedicine.3800-19"
    regimen = {r["item"]: r["publication"] for r in report if r["section"] == "regimen"}
    assert regimen["lenalidomide"] == ("15 mg, days 1-21 of 28-day cycles (cycle 1); "
                                       "25 mg, days 1-21 of 28-day cycles (cycle 2-6)")
    assert regimen["dexamethasone"] == "20 mg weekly, 28-day cycles (cycle 1-6)"
    assert {r["verdict"] for r in report if r["section"] == "endpoint"} == {"no registry record"}
    assert "inconsistent" in {r["verdict"] for r in report if r["section"] == "check"}
    notice = report[0]
    assert (notice["section"], notice["item"], notice["registry"]) == ("notice", "registry record", "not in this KB")
    assert notice["detail"].startswith(f"No registry record harvested for {SEED_TRIAL}")
    assert f"kb build --nct {SEED_TRIAL}" in notice["detail"]


async def test_trial_report_says_when_it_knows_nothing_of_an_id(datasette):
    unknown = await rows(datasette, "trial_report", nct=" nct09999999 ")
    assert [(r["section"], r["item"]) for r in unknown] == [("notice", "not found")]
    assert unknown[0]["detail"].startswith("Nothing in this KB for NCT09999999: no registry record and no article")
    [malformed] = await rows(datasette, "trial_report", nct="NCT123")
    assert malformed["detail"] == '"NCT123" is not an NCT ID (NCT followed by 8 digits, e.g. NCT02193698).'
    known = await rows(datasette, "trial_report", nct=NCT.lower())
    assert "notice" not in {r["section"] for r in known} and known[0]["item"] == "title"


async def test_inconsistencies_most_serious_first(datasette, fixture_kb):
    found = await rows(datasette, "inconsistencies")
    stored = sqlite_utils.Database(fixture_kb)["checks"]
    assert sorted(r["check_id"] for r in found) == sorted(r["id"] for r in stored.rows_where("verdict != 'consistent'"))
    assert (found[0]["subject"], found[0]["decision_error"]) == (SYNTHETIC_ARTICLE, "yes")
    ranks = [severity(r["verdict"] + (" (decision error)" if r["decision_error"] else "")) for r in found]
    assert ranks == sorted(ranks) and "not_checkable" in {r["verdict"] for r in found}
    seed = next(r for r in found if r["subject"] == SEED_ARTICLE and r["verdict"] == "inconsistent")
    assert seed["title"].startswith(SEED_TITLE) and seed["trial"] == SEED_TRIAL
    assert seed["detail"].startswith("Reported p = 0.0003 is not reproduced")


async def test_registry_vs_publication(datasette):
    every = await rows(datasette, "registry_vs_publication", nct="")
    assert {r["nct_id"] for r in every} == {NCT, SEED_TRIAL}
    one = await rows(datasette, "registry_vs_publication", nct=NCT)
    statuses = [r["status"] for r in one]
    assert statuses[0] == "matched" and statuses.count("kind changed") == statuses.count("added") == 1
    assert len(one) == 24 + 1  # every registered endpoint, and the one added


async def test_authors_by_any_identifier(datasette):
    by_id = await rows(datasette, "byline", article=SEED_ARTICLE)
    assert len(by_id) == 12 and by_id[0]["position"] == 1 and by_id[0]["author"] == "Tomoki Suichi"
    assert "Chiba University" in by_id[0]["affiliations"]
    assert await rows(datasette, "byline", article="10.2169/internalmedicine.3800-19") == by_id
    assert await rows(datasette, "byline", article="32009091") == by_id


async def test_regimen_schedule(datasette):
    seed = await rows(datasette, "regimen_schedule", subject=SEED_ARTICLE)
    assert [(r["drug"], r["dose"], r["cycles"], r["dose_per_cycle"]) for r in seed] == [
        ("dexamethasone", "20", "1-6", 80), ("lenalidomide", "15", "1", 315), ("lenalidomide", "25", "2-6", 525)]
    trial = await rows(datasette, "regimen_schedule", subject=NCT)
    assert [r["source"] for r in trial] == sorted((r["source"] for r in trial), key=["registry", "publication"].index)
    assert (trial[-1]["subject"], trial[-1]["source"]) == (SYNTHETIC_ARTICLE, "publication")


async def test_history_has_one_line_per_changed_field(datasette):
    history = await rows(datasette, "history", nct=NCT)
    assert [(r["version"], r["field"], r["old"], r["new"]) for r in history] == [
        (2, "protocolSection.statusModule.lastUpdatePostDateStruct.date", "2015-09-28", "2030-01-15"),
        (2, "protocolSection.statusModule.statusVerifiedDate", "2015-06", "2030-01"),
        (1, "(first observation)", None, None),
    ]


async def test_canned_query_pages_render(datasette):
    for query, params in zip(QUERIES, ({"nct": NCT}, {}, {"nct": ""}, {"article": SEED_ARTICLE},
                                       {"subject": SEED_ARTICLE}, {"nct": NCT})):
        page = (await get_ok(datasette, f"/{DATABASE}/{query}?{urlencode(params)}")).text
        assert datasette.metadata()["databases"][DATABASE]["queries"][query]["title"] in page


def whole_table_reads(conn, sql: str) -> list[str]:
    """The lines of the query plan of `sql` (every :parameter empty) that read a table whole, not through an index
    (subqueries, CTEs of the query, json_each and constant rows aside)."""
    ctes = set(re.findall(r"(?:\bwith|,)\s*(\w+)\s*(?:\([^)]*\))?\s+as\s*\(", sql, re.IGNORECASE))
    params = {name: "" for name in re.findall(r"(?<!:):([A-Za-z_]\w*)", sql)}
    return [detail for *_, detail in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            if detail.startswith("SCAN ") and " USING " not in detail and "VIRTUAL TABLE" not in detail
            and detail.split()[1] not in ctes | {"CONSTANT"} and not detail.split()[1].startswith("(")]


def test_canned_queries_and_endpoint_comparison_read_indexes(datasette, fixture_kb):
    """No canned query, and no trial's endpoint comparison, reads a whole table (their speed on 100,000 trials is
    measured by benchmarks/scale.py); without statistics, SQLite plans the same on this small KB."""
    queries = datasette.metadata()["databases"][DATABASE]["queries"]
    with closing(sqlite3.connect(fixture_kb)) as conn:
        for name, query in queries.items():
            assert whole_table_reads(conn, query["sql"]) == [], name
        plan = [detail for *_, detail in conn.execute(f"EXPLAIN QUERY PLAN {queries['inconsistencies']['sql']}")]
        assert "USE TEMP B-TREE FOR ORDER BY" not in plan  # read in order: a page stops after the rows it shows
        assert whole_table_reads(conn, f"SELECT * FROM ({ENDPOINT_COMPARISON}) WHERE nct_id = :nct") == []


# --- charts ----------------------------------------------------------------------------------------------------------


def charts(datasette) -> dict:
    return datasette.metadata()["plugins"]["datasette-dashboards"]["checks"]["charts"]


async def test_chart_queries_return_verdicts_per_trial_and_before_after_pairs(datasette, fixture_kb):
    async def chart_rows(name):
        query = urlencode({"sql": charts(datasette)[name]["query"], "_shape": "array"})
        return (await get_ok(datasette, f"/{DATABASE}.json?{query}")).json()

    db = sqlite_utils.Database(fixture_kb)
    trial_of = {SEED_ARTICLE: SEED_TRIAL, SYNTHETIC_ARTICLE: NCT, NCT: NCT}
    expected = Counter((trial_of[r["subject"]], r["verdict"]) for r in db["checks"].rows)
    assert {(r["trial"], r["verdict"]): r["checks"] for r in await chart_rows("verdicts-per-trial")} == expected
    assert [(r["moment"], r["value"]) for r in await chart_rows("before-after")] == [("before", 2466), ("after", 974)]
    # the Trials card counts the trials the per-trial chart shows: those with a record and those articles name
    assert [r["n"] for r in await chart_rows("trials")] == [len({trial for trial, _ in expected})]
    for name in charts(datasette):
        assert await chart_rows(name), f"chart {name} has no rows"


async def test_the_dashboard_loads_nothing_from_another_host(datasette):
    page = (await get_ok(datasette, "/-/dashboards/checks")).text
    assert "Checks at a glance" in page
    assert "//" not in "".join(line for line in page.splitlines() if "<script src" in line or "<link" in line)


# --- kb serve --------------------------------------------------------------------------------------------------------


async def test_served_read_only_with_a_time_limit_and_not_immutable(datasette):
    settings = (await get_ok(datasette, "/-/settings.json")).json()
    assert settings["sql_time_limit_ms"] == SQL_TIME_LIMIT_MS
    [database] = (await get_ok(datasette, "/-/databases.json")).json()
    assert database["name"] == DATABASE and database["is_mutable"]
    refused = await datasette.client.get(f"/{DATABASE}.json?{urlencode({'sql': 'delete from checks'})}")
    assert refused.status_code == 400
    plugins = {plugin["name"] for plugin in (await get_ok(datasette, "/-/plugins.json")).json()}
    assert "datasette-dashboards" in plugins and not any("write" in name or "edit" in name for name in plugins)


async def test_only_kb_links_looks_at_every_cell_but_the_dashboards_keep_their_markdown_helpers(datasette):
    hooks = {plugin["name"]: set(plugin["hooks"]) for plugin in (await get_ok(datasette, "/-/plugins.json")).json()}
    assert [name for name, names in hooks.items() if "render_cell" in names] == ["kb.links"]  # registered once
    assert {"extra_template_vars", "prepare_jinja2_environment"} <= hooks["datasette_render_markdown_templates"]


async def test_a_write_by_refresh_shows_without_restart(fixture_kb, tmp_path):
    path = copy_kb(fixture_kb, tmp_path / "other-name.db")  # any file name: the database is still /kb
    datasette = datasette_for(path)
    assert (await rows(datasette, "inconsistencies"))[0]["decision_error"] == "yes"
    sqlite_utils.Database(path)["checks"].delete_where("decision_error = 1")
    assert (await rows(datasette, "inconsistencies"))[0]["decision_error"] is None


def test_serve_refuses_a_missing_database(tmp_path):
    result = CliRunner().invoke(serve, ["--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 2 and "no knowledge base at" in result.output
    assert not (tmp_path / "missing.db").exists()


# --- harvested text is shown as text ---------------------------------------------------------------------------------


async def test_markup_in_harvested_text_is_escaped(fixture_kb, tmp_path):
    path = copy_kb(fixture_kb, tmp_path / "kb.db")
    add_markup_article(sqlite_utils.Database(path))
    datasette = datasette_for(path)
    escaped = MARKUP.replace("<", "&lt;").replace(">", "&gt;")
    for page_path in (f"/{DATABASE}/articles/{tilde_encode(MARKUP_ARTICLE)}",
                      f"/{DATABASE}/articles?_search=markupword",
                      f"/{DATABASE}/results?subject={MARKUP_ARTICLE}"):
        page = (await get_ok(datasette, page_path)).text
        assert escaped in page and MARKUP not in page and "<b>bold</b>" not in page


# --- every main page answers (their speed is measured in benchmarks/scale.py, never in a test) -------------------


MAIN_PAGES = [f"/{DATABASE}/{table}" for table in ("trials", "articles", "endpoints", "results", "checks",
                                                   "snapshots", "endpoint_comparison")] + [
    f"/{DATABASE}/trial_report?nct={NCT}", f"/{DATABASE}/inconsistencies", f"/{DATABASE}/registry_vs_publication",
    f"/{DATABASE}/byline?article={SEED_ARTICLE}", f"/{DATABASE}/regimen_schedule?subject={SEED_ARTICLE}",
    f"/{DATABASE}/history?nct={NCT}", "/-/dashboards/checks"]


async def test_main_pages_answer(datasette):
    for path in MAIN_PAGES:
        assert (await get_ok(datasette, path)).text
