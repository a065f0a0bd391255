"""Derived rows and checks in the KB, from recorded registry responses and the reconstructed seed article.

The seed article's responses in kb/data/offline/ are RECONSTRUCTED from its published page (see PROVENANCE.md);
NCT00791778 is a real recorded registry response with posted results.
"""

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.derive import rederive
from kb.derive.endpoint_comparison import ENDPOINT_COMPARISON
from kb.store.schema import open_db

from .conftest import SEED_FILES, db_dump, fixture_path

SEED = "pmid:32009091"


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("kb") / "kb.db"
    result = CliRunner().invoke(cli, ["import", *map(str, SEED_FILES),
                                      str(fixture_path(
                                          "ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")),
                                      "--db", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_seed_regimen_has_three_lines_with_course_totals(kb):
    db = open_db(str(kb))
    rows = list(db["regimen"].rows_where("subject = ?", [SEED], order_by="span_start"))
    assert [(r["drug"], r["dose_num"], r["unit"], r["cycles"]) for r in rows] == [
        ("lenalidomide", 15, "mg", "1"), ("lenalidomide", 25, "mg", "2-6"), ("dexamethasone", 20, "mg", "1-6")]
    assert [r["days"] for r in rows[:2]] == ["1-21", "1-21"] and rows[2]["frequency"] == "weekly"
    assert {r["drug"]: r["drug_course_total"] for r in rows} == {"lenalidomide": 2940, "dexamethasone": 480}
    abstract = db["articles"].get(SEED)["abstract"]
    assert all(abstract[r["span_start"]:r["span_end"]] in r["source_text"] for r in rows)
    assert all(r["snapshot_id"] and db["snapshots"].get(r["snapshot_id"]) for r in rows)


def test_seed_endpoints_and_statistics_with_spans(kb):
    db = open_db(str(kb))
    endpoints = list(db["endpoints"].rows_where("subject = ?", [SEED], order_by="position"))
    assert [(e["kind"], e["time_frame"]) for e in endpoints] == [("primary", "24 weeks"), ("primary", None)]
    assert "VEGF" in endpoints[0]["measure"] and "adverse events" in endpoints[1]["measure"]
    abstract = db["articles"].get(SEED)["abstract"]
    results = {(r["statistic"], r["value"]): r for r in db["results"].rows_where("subject = ?", [SEED])}
    assert results[("n", "5")]["value_num"] == 5
    mean = results[("mean", "59.6")]
    assert (mean["dispersion"], mean["unit"], mean["p_text"], mean["decimals"]) == ("8.3", "%", "p=0.0003", 1)
    before, after = results[("mean", "2466")], results[("mean", "974")]
    assert (before["role"], after["role"], before["pair"] == after["pair"]) == ("before", "after", True)
    assert abstract[before["span_start"]:before["span_end"]].startswith("2,466")
    assert abstract[mean["span_start"]:mean["span_end"]].startswith("59.6")


def test_seed_statistics_each_have_a_check_with_a_sentence(kb):
    db = open_db(str(kb))
    checks = {c["kind"]: c for c in db["checks"].rows_where("subject = ?", [SEED])}
    one_sample = checks["p_from_mean_sd"]
    assert one_sample["verdict"] == "inconsistent" and one_sample["decision_error"] == 0
    assert one_sample["detail"].startswith("Reported p = 0.0003 is not reproduced: "
                                           "a one-sample t-test of 59.6% ± 8.3% (n = 5)")
    assert "null value" in one_sample["detail"] and "signed-rank" in one_sample["detail"]
    results = {r["id"] for r in db["results"].rows_where("subject = ?", [SEED])}
    assert set(json.loads(one_sample["uses"])) <= results and len(json.loads(one_sample["uses"])) == 2
    change = checks["relative_change"]
    assert (change["verdict"] == "not_checkable" and "60.5%" in change["detail"]
            and "0.90 percentage points" in change["detail"])


def test_registry_analyses_recognise_one_sided_p_values(kb):
    db = open_db(str(kb))
    ratio = list(db["checks"].rows_where("subject = 'NCT00791778' and kind = 'p_from_ratio_ci'"))
    assert len(ratio) == 3
    assert all(c["verdict"] == "consistent" and "one-sided" in c["detail"] for c in ratio)
    assert all("one-sided" in m for c in ratio for m in json.loads(c["methods_fit"]))
    used = db["results"].get(json.loads(ratio[0]["uses"])[0])
    assert used["kind"] == "analysis" and used["source"] == "registry"


def test_check_is_idempotent(kb):
    before = db_dump(kb)
    assert CliRunner().invoke(cli, ["check", "--db", str(kb)]).exit_code == 0
    assert db_dump(kb) == before


def test_endpoint_comparison_holds_what_its_query_computes(tmp_path):
    """endpoint_comparison is a table derive keeps: after an import, and after a re-derive once publication endpoints
    exist. The registry side is the real recorded NCT00791778; the article's endpoints are SYNTHETIC rows."""
    db_path = tmp_path / "kb.db"
    study = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
    assert CliRunner().invoke(cli, ["import", str(study), "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))

    def stored_and_computed():
        return [sorted(map(tuple, db.execute(sql).fetchall()), key=repr)
                for sql in ("SELECT * FROM endpoint_comparison", f"SELECT * FROM ({ENDPOINT_COMPARISON})")]

    stored, computed = stored_and_computed()
    assert stored == computed and {row[1] for row in stored} == {"not compared"}
    registry = [r["id"] for r in db["endpoints"].rows_where("subject = 'NCT00791778'", order_by="kind, position")]
    db["article_trials"].insert({"article_id": "doi:10.5555/synthetic", "nct_id": "NCT00791778", "evidence": "test"})
    db["endpoints"].insert_all([
        {"id": "doi:10.5555/synthetic/publication/endpoint/0", "subject": "doi:10.5555/synthetic",
         "source": "publication", "kind": "secondary", "measure": "overall survival", "matched_to": registry[0]},
        {"id": "doi:10.5555/synthetic/publication/endpoint/1", "subject": "doi:10.5555/synthetic",
         "source": "publication", "kind": "primary", "measure": "quality of life"}])
    rederive(db, ["NCT00791778"])
    stored, computed = stored_and_computed()
    assert stored == computed
    assert {row[1] for row in stored} == {"kind changed", "unreported", "added"}
    before = db_dump(db_path)
    rederive(db, ["NCT00791778"])
    assert db_dump(db_path) == before


def test_a_kb_made_when_endpoint_comparison_was_a_view_gets_the_table_filled_at_its_next_open(tmp_path):
    db_path = tmp_path / "kb.db"
    study = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
    assert CliRunner().invoke(cli, ["import", str(study), "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))
    expected = sorted(map(tuple, db.execute("SELECT * FROM endpoint_comparison").fetchall()), key=repr)
    assert expected
    # What such a KB holds: a view of that name and no record of migration m003.
    db.execute("DROP TABLE endpoint_comparison")
    db.execute(f"CREATE VIEW endpoint_comparison AS {ENDPOINT_COMPARISON}")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm003_computed_tables'")
    db.conn.commit()
    db.conn.close()

    db = open_db(str(db_path))
    assert "endpoint_comparison" in db.table_names() and "endpoint_comparison" not in db.view_names()
    assert sorted(map(tuple, db.execute("SELECT * FROM endpoint_comparison").fetchall()), key=repr) == expected


def test_registry_against_article_with_a_labelled_stand_in_record(tmp_path):
    """STAND-IN: the real recorded study NCT03418623 (GET73, alcohol use disorder) is relabelled NCT02193698 in this
    test only, to exercise the comparisons mechanically; its content is unrelated to the seed article, so every
    comparison must come out as a disagreement or as not checkable."""
    doc = json.loads(fixture_path("ctgov", "v2_study_NCT03418623_aact.json").read_text())
    doc["protocolSection"]["identificationModule"]["nctId"] = "NCT02193698"
    stand_in = tmp_path / "stand_in.json"
    stand_in.write_text(json.dumps(doc))
    db_path = tmp_path / "kb.db"
    assert CliRunner().invoke(cli, ["import", str(stand_in), *map(str, SEED_FILES),
                                    "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))
    checks = {}
    for c in db["checks"].rows_where("subject = 'NCT02193698'"):
        checks.setdefault(c["kind"], []).append(c)
    enrollment = checks["enrollment"][0]
    registered = doc["protocolSection"]["designModule"]["enrollmentInfo"]
    assert "n = 5" in enrollment["detail"] and str(registered["count"]) in enrollment["detail"]
    primaries = [o for o in doc["protocolSection"]["outcomesModule"]["primaryOutcomes"]]
    assert len(checks["endpoint_unreported"]) >= len(primaries)
    assert len(checks["endpoint_added"]) == 2
    assert checks["regimen"][0]["verdict"] == "inconsistent" and "lenalidomide" in checks["regimen"][0]["detail"]
    assert checks["enrollment_period"][0]["verdict"] in ("consistent", "inconsistent")
    assert ("July 2014" in checks["enrollment_period"][0]["detail"]
            or "2014-07" in checks["enrollment_period"][0]["inputs"])
    assert checks["results_posted"][0]["verdict"] == "not_checkable"


def test_check_stats_and_check_text_from_the_command_line():
    runner = CliRunner()
    out = runner.invoke(cli, ["check", "stats", "--mean", "59.6", "--pm", "8.3", "--n", "5", "--p", "0.0003"])
    assert out.exit_code == 1 and out.output.startswith("inconsistent: Reported p = 0.0003 is not reproduced")
    ratio = runner.invoke(cli, ["check", "stats", "--ratio", "1.09", "--lower", "0.72", "--upper", "1.63",
                                "--p", "0.655", "--one-sided-stated", "--json"])
    verdict = json.loads(ratio.output)[0]
    assert verdict["verdict"] == "consistent" and any("one-sided" in m for m in verdict["methods_fit"])
    grim = runner.invoke(cli, ["check", "stats", "--percent", "76.5", "--n", "34", "--k", "26"])
    assert grim.output.startswith("consistent:")
    text = runner.invoke(cli, ["check", "text", "-", "--json"],
                         input="Mean age was 5.19 (n = 28). The effect was significant, t(28) = 2.20, p = .03.")
    kinds = {v["kind"]: v for v in json.loads(text.output)}
    apa = kinds["p_from_apa_statistic"]
    assert apa["verdict"] == "inconsistent" and apa["recomputed"]["two-tailed"][0] > 0.035
    assert runner.invoke(cli, ["check", "stats", "--mean", "1"]).exit_code == 2


def test_extract_commands_print_json():
    out = CliRunner().invoke(cli, ["extract", "regimen", "dexamethasone 20 mg once a week for six 28-day cycles"])
    rows = json.loads(out.output)
    assert rows[0]["drug"] == "dexamethasone" and rows[0]["drug_course_total"] == 480
    stats = json.loads(CliRunner().invoke(cli, ["extract", "stats", "-"],
                                          input="HR 0.54 (95% CI 0.32-0.92; P=0.01)").output)
    assert stats[0]["statistic"] == "hazard_ratio" and stats[0]["lower"] == "0.32"


def test_numbers_reported_by_both_registry_and_article_are_compared(tmp_path):
    """The registry side is the real recorded NCT00791778; the article is a SYNTHETIC database row (its abstract is
    written for this test, not a recorded response) linked to it, so that known numbers meet the registry's."""
    db_path = tmp_path / "kb.db"
    study = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
    assert CliRunner().invoke(cli, ["import", str(study), "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))
    abstract = ("Median progression-free survival was 12.7 months with sorafenib and 15.7 months with placebo "
                "(HR 1.09; 95% CI 0.72-1.63). Median progression-free survival was 14.2 months in a subgroup.")
    db["articles"].insert({"article_id": "doi:10.5555/synthetic", "doi": "10.5555/synthetic", "abstract": abstract})
    db["article_trials"].insert({"article_id": "doi:10.5555/synthetic", "nct_id": "NCT00791778", "evidence": "test"})
    assert CliRunner().invoke(cli, ["check", "--db", str(db_path)]).exit_code == 0
    shared = list(db["checks"].rows_where("subject = 'NCT00791778' and kind = 'shared_number'", order_by="id"))
    by_value = {c["reported"]: c for c in shared}
    assert by_value["12.7"]["verdict"] == "consistent" and "386 Days" in by_value["12.7"]["detail"]
    assert by_value["15.7"]["verdict"] == "consistent" and "478" in by_value["15.7"]["detail"]
    assert by_value["1.09"]["verdict"] == "consistent"
    assert by_value["14.2"]["verdict"] == "inconsistent" and "Progression-free Survival" in by_value["14.2"]["detail"]


def test_seed_endpoints_without_a_registry_record_are_neither_added_nor_matched(kb):
    """The seed article states NCT02193698, whose registry record is not in the KB: its published endpoints are
    shown as 'no registry record', never as 'added' (which needs the registry side)."""
    db = open_db(str(kb))
    assert not db["trials"].count_where("nct_id = 'NCT02193698'")
    statuses = {r["status"] for r in db["endpoint_comparison"].rows_where("nct_id = 'NCT02193698'")}
    assert statuses == {"no registry record"}


def test_a_baseline_category_nobody_is_in_is_not_checked(kb):
    """NCT00791778's baseline has categories whose every count is 0 (real record): adding 0 + 0 to 0 is no check."""
    db = open_db(str(kb))
    empty = [r for r in db.query("select measure, class, category, group_concat(value) as values_ "
                                 "from baseline_measurements where nct_id = 'NCT00791778' "
                                 "group by measure, class, category") if set(r["values_"].split(",")) == {"0"}]
    assert empty, "the fixture no longer has an all-zero category"
    sums = [json.loads(r["inputs"]) for r in db["checks"].rows_where("kind = 'parts_vs_total'")]
    assert sums and all(s["total"] != "0" or set(s["parts"]) != {"0"} for s in sums)
