"""`kb build` and `kb import` end to end: what is stored, and that failures leave the database as it was."""

import json
import zipfile

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.store.schema import open_db

from .conftest import db_dump, fixture_bytes, fixture_path
from .loopback import Reply

BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")
STUDY = fixture_bytes("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_every_command_explains_itself_with_an_example():
    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, path + [name])

    for path, command in walk(cli, []):
        result = run(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example:" in result.output, f"kb {' '.join(path)} --help has no example"


def test_bad_identifier_exits_2_and_creates_nothing(tmp_path, server):
    db = tmp_path / "kb.db"
    result = run("build", "--nct", "NCT123", "--db", str(db))
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "NCT123" in result.output and "8 digits" in result.output
    assert not db.exists() and server.requests == []


def test_build_stores_a_study_with_provenance(tmp_path, server):
    server.route("/ctgov/studies/NCT00791778", Reply(200, STUDY))
    db_path = tmp_path / "kb.db"
    assert run("build", "--nct", "NCT00791778", "--db", str(db_path)).exit_code == 0
    db = open_db(str(db_path))
    trial = db["trials"].get("NCT00791778")
    snapshot = db["snapshots"].get(trial["snapshot_id"])
    assert snapshot["body"] == STUDY and snapshot["status"] == 200 and snapshot["url"].startswith(server.url)
    assert snapshot["sha256"] == __import__("hashlib").sha256(STUDY).hexdigest()
    row = next(db["results"].rows_where("kind = 'analysis'", limit=1))
    node = json.loads(snapshot["body"])
    for step in row["path"].replace("]", "").replace("[", ".").split("."):
        node = node[int(step)] if step.isdigit() else node[step]
    assert node["paramValue"] == row["value"] and row["snapshot_id"] == snapshot["id"]
    assert list(db["trial_versions"].rows)[0]["version"] == 1
    assert db["article_trials"].get(("pmid:23591401", "NCT00791778", "registry reference"))


@pytest.mark.parametrize("reply", [Reply(404, b"{}"), Reply(500, b"down"), Reply(200, b'{"not": "a study"}'),
                                   Reply(200, STUDY, truncate=True), Reply(429, b"", {"Retry-After": "0"})])
def test_failed_build_leaves_the_database_as_it_was(tmp_path, server, monkeypatch, reply):
    monkeypatch.setenv("KB_RETRIES", "1")
    db_path = tmp_path / "kb.db"
    assert run("import", str(fixture_path("ctgov", "v2_study_NCT00973089_aact.json")),
               "--db", str(db_path)).exit_code == 0
    before = db_dump(db_path)
    server.route("/ctgov/studies/NCT00791778", reply)
    result = run("build", "--nct", "NCT00791778", "--db", str(db_path))
    assert result.exit_code == 1
    assert "NCT00791778" in result.output
    assert db_dump(db_path) == before


def test_rebuild_gives_the_same_database(tmp_path, server):
    server.route("/ctgov/studies/NCT00791778", Reply(200, STUDY))
    db_path = tmp_path / "kb.db"
    run("build", "--nct", "NCT00791778", "--db", str(db_path))
    first = db_dump(db_path)
    assert "unchanged" in run("build", "--nct", "NCT00791778", "--db", str(db_path)).output
    assert db_dump(db_path) == first


def test_import_of_the_100_study_download(tmp_path):
    db_path = tmp_path / "kb.db"
    result = run("import", str(BULK), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert "100 studies read, 100 stored" in result.output
    db = open_db(str(db_path))
    assert db["trials"].count == 100 and db["snapshots"].count == 100
    docs = [json.loads(line.rstrip(",\n")) for line in BULK.read_text().splitlines() if line.startswith("{")]
    for doc in docs:
        if "resultsSection" not in doc:
            continue
        nct = doc["protocolSection"]["identificationModule"]["nctId"]
        measures = doc["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]
        expected = sum(len(m.get("analyses", [])) + sum(len(c.get("measurements", [])) for k in m.get("classes", [])
                                                        for c in k.get("categories", [])) for m in measures)
        assert db["results"].count_where("subject = ?", [nct]) == expected
    first = db_dump(db_path)
    again = run("import", str(BULK), "--db", str(db_path))
    assert "0 stored, 100 unchanged" in again.output and db_dump(db_path) == first


def test_a_file_with_two_versions_of_a_record_stores_both_in_order(tmp_path):
    # The real record, preceded by an edited copy standing for an earlier version (status and keywords changed by
    # this test, not recorded): a download file may hold the same NCT ID twice.
    later = json.loads(fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json"))
    earlier = json.loads(json.dumps(later))
    earlier["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    earlier["protocolSection"]["conditionsModule"]["keywords"] += ["removed later"]
    both = tmp_path / "both.json"
    both.write_text(json.dumps([earlier, later]))
    db_path = tmp_path / "kb.db"
    assert "2 studies read, 2 stored" in run("import", str(both), "--db", str(db_path), "--no-derive").output
    db = open_db(str(db_path))
    versions = list(db.query("select version, changed_fields from trial_versions where nct_id = 'NCT00973089' "
                             "order by version"))
    assert [v["version"] for v in versions] == [1, 2]
    changed = {c["path"] for c in json.loads(versions[1]["changed_fields"])}
    assert {"protocolSection.statusModule.overallStatus", "protocolSection.conditionsModule.keywords[3]"} <= changed
    assert db["trials"].get("NCT00973089")["overall_status"] == "WITHDRAWN"
    assert [k["keyword"] for k in db["keywords"].rows_where(order_by="position")] == \
        later["protocolSection"]["conditionsModule"]["keywords"]
    assert db["snapshots"].count == 2
    first = db_dump(db_path)
    assert "0 stored, 2 unchanged" in run("import", str(both), "--db", str(db_path), "--no-derive").output
    assert db_dump(db_path) == first


def test_an_older_download_does_not_overwrite_a_newer_record(tmp_path):
    # An edited copy of the real record stands for a version the registry posted a year earlier (not recorded).
    current = json.loads(fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json"))
    posted = current["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
    old = json.loads(json.dumps(current))
    old["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
    old["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] = f"{int(posted[:4]) - 1}{posted[4:]}"
    (tmp_path / "old.json").write_text(json.dumps(old))
    db_path = tmp_path / "kb.db"
    run("import", str(fixture_path("ctgov", "v2_study_NCT00973089_aact.json")), "--db", str(db_path), "--no-derive")
    before = db_dump(db_path)
    assert "0 stored, 1 unchanged" in run("import", str(tmp_path / "old.json"), "--db", str(db_path),
                                          "--no-derive").output
    assert db_dump(db_path) == before


def test_import_of_a_zip_download(tmp_path):
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name in ("v2_study_NCT00763412_aact.json", "v2_study_NCT05594173_aact.json"):
            z.writestr(name.split("_")[2] + ".json", fixture_bytes("ctgov", name))
    assert run("import", str(archive), "--db", str(tmp_path / "kb.db")).exit_code == 0
    assert {r["nct_id"] for r in open_db(str(tmp_path / "kb.db"))["trials"].rows} == {"NCT00763412", "NCT05594173"}


def test_truncated_download_keeps_complete_studies_and_reports_the_rest(tmp_path):
    text = BULK.read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    result = run("import", str(cut), "--db", str(tmp_path / "kb.db"))
    assert result.exit_code == 1 and "truncated" in result.output
    stored = open_db(str(tmp_path / "kb.db"))["trials"].count
    assert 0 < stored < 100


def test_registry_values_are_stored_faithfully_with_numbers_only_where_numbers_are(tmp_path):
    db_path = tmp_path / "kb.db"
    for name in ("v2_study_NCT02210780_aact.json", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"):
        run("import", str(fixture_path("ctgov", name)), "--db", str(db_path))
    db = open_db(str(db_path))
    below = list(db["results"].rows_where("p_text = '<0.0001'"))
    assert below and all(r["p_relation"] == "<" and r["p_value"] == 0.0001 for r in below)
    na = list(db["results"].rows_where("value = 'NA'"))
    assert na and all(r["value_num"] is None and r["decimals"] is None for r in na)
    one_decimal = next(db["results"].rows_where("value = '1.09'"))
    assert one_decimal["value_num"] == 1.09 and one_decimal["decimals"] == 2


@pytest.mark.parametrize("args,named", [(["--pmid", "12x"], "PMID"), (["--doi", "11.1/x"], "DOI"),
                                        (["--nct", "NCT00791778", "--pmid", "0"], "PMID")])
def test_bad_article_identifier_exits_2_before_any_request(tmp_path, server, args, named):
    db = tmp_path / "kb.db"
    result = run("build", *args, "--db", str(db))
    assert result.exit_code == 2 and named in result.output and result.output.count("\n") == 1
    assert not db.exists() and server.requests == []


def test_default_build_harvests_the_seed_trial_and_article_then_checks(tmp_path, server):
    """The article's responses are RECONSTRUCTED (kb/data/offline); the registry answer is a STAND-IN: the real
    recorded study NCT03418623 relabelled NCT02193698 here, since no recording of NCT02193698 exists."""
    from .test_articles import serve_seed

    serve_seed(server)
    stand_in = json.loads(fixture_bytes("ctgov", "v2_study_NCT03418623_aact.json"))
    stand_in["protocolSection"]["identificationModule"]["nctId"] = "NCT02193698"
    server.route("/ctgov/studies/NCT02193698", Reply(200, json.dumps(stand_in).encode()))
    db_path = tmp_path / "kb.db"
    result = run("build", "--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert ("NCT02193698: stored" in result.output
            and "pmid:32009091: from Europe PMC, PubMed, Crossref, J-STAGE" in result.output)
    db = open_db(str(db_path))
    assert db["article_trials"].get(("pmid:32009091", "NCT02193698", "abstract"))
    assert db["checks"].count_where("subject = 'NCT02193698' and kind = 'enrollment'") == 1
    assert db["checks"].count_where("subject = 'pmid:32009091' and kind = 'p_from_mean_sd'") == 1


def test_default_build_without_the_registry_record_keeps_the_article(tmp_path, server):
    from .test_articles import serve_seed

    serve_seed(server)
    server.route("/ctgov/studies/NCT02193698", Reply(404, b"{}"))
    db_path = tmp_path / "kb.db"
    result = run("build", "--db", str(db_path))
    assert result.exit_code == 1 and "ClinicalTrials.gov NCT02193698: not found" in result.output
    db = open_db(str(db_path))
    assert db["trials"].count == 0 and db["articles"].count == 1 and db["regimen"].count == 3
