"""`kb import` of hostile or broken files (issue 14, items 5, 6, 7 and 11): each fault is one line naming the file
(and the member or the position in it), counted as a failure (exit 1); every other record and file is stored, memory
stays bounded, and a run in which every path fails leaves no database behind.

Every malicious input is generated here, small: a "4 GiB" ZIP member is a member whose headers claim that size, and
limits are lowered through the environment where a real input would be large."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from harvest.identifiers import normalize_nct
from kb import pipeline
from kb.cli import cli
from kb.store.schema import open_db

from .conftest import fixture_bytes

SMALL = fixture_bytes("ctgov", "v2_study_NCT03418623_aact.json")  # a real recorded study, 9 KB
OTHER = fixture_bytes("ctgov", "v2_study_NCT00973089_aact.json")


def run(*args):
    """`kb ARGS`; an exception escaping the command fails the test as it would show a traceback to a user."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def stored(db_path: Path) -> set[str]:
    return {row["nct_id"] for row in open_db(str(db_path))["trials"].rows}


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("kb: ")]


def study(nct_id: str, **identification) -> dict:
    doc = json.loads(SMALL)
    doc["protocolSection"]["identificationModule"].update(nctId=nct_id, **identification)
    return doc


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- 6. one bad record fails alone -----------------------------------------------------------------------------------


def test_a_deeply_nested_study_file_or_member_is_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"protocolSection": {"identificationModule": {"nctId": "NCT00000001"}}, "x": '
                    + nested(100_000) + "}")
    archive = tmp_path / "deep.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("deep.json", deep.read_bytes())
        z.writestr("small.json", SMALL)
    result = run("import", deep, archive, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    assert len(errors(result)) == 2 and all("nested more than 64 levels" in line for line in errors(result))
    assert stored(tmp_path / "kb.db") == {"NCT03418623"}


def test_a_study_that_cannot_be_stored_fails_alone_in_its_batch(tmp_path, monkeypatch):
    """Valid JSON that SQLite cannot hold (a lone surrogate escape, a number past 64 bits) fails alone: its batch is
    stored study by study."""
    monkeypatch.setattr(pipeline, "BATCH", 3)
    surrogate, huge = study("NCT00000002"), study("NCT00000003")
    surrogate["protocolSection"]["identificationModule"]["briefTitle"] = "A \udc80 title"
    huge["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 10**30
    path = tmp_path / "studies.json"
    path.write_text(json.dumps([study("NCT00000001"), surrogate, huge, study("NCT00000004")]))
    result = run("import", path, "--db", tmp_path / "kb.db", "--no-derive")
    assert result.exit_code == 1
    assert [line.split(": cannot be stored")[0] for line in errors(result)] == [
        f"kb: ClinicalTrials.gov {path}[1]", f"kb: ClinicalTrials.gov {path}[2]"]
    assert stored(tmp_path / "kb.db") == {"NCT00000001", "NCT00000004"}
    assert "4 studies read, 2 stored, 0 unchanged; 0 articles; 2 failed." in result.output


# --- 7. identifiers are normalised and validated wherever they enter -------------------------------------------------


def test_an_nct_id_with_a_trailing_newline_or_in_lower_case_is_the_same_trial(tmp_path):
    db_path = tmp_path / "kb.db"
    for i, nct in enumerate(["NCT03418623\n", "nct03418623", " NCT03418623 "]):
        path = tmp_path / f"variant{i}.json"
        doc = json.loads(SMALL)
        doc["protocolSection"]["identificationModule"]["nctId"] = nct
        doc["protocolSection"]["identificationModule"]["briefTitle"] += f" (variant {i})"
        path.write_text(json.dumps(doc))
        assert run("import", path, "--db", db_path, "--no-derive").exit_code == 0
    assert stored(db_path) == {"NCT03418623"}
    db = open_db(str(db_path))
    assert {row["key"] for row in db["snapshots"].rows} == {"NCT03418623"}
    assert db["trial_versions"].count == 3


@pytest.mark.parametrize("value", ["NCT03418623\n", "nct03418623", "\tNCT03418623 "])
def test_identifiers_are_normalised_whole(value):
    assert normalize_nct(value) == "NCT03418623"


def test_a_registry_reference_pmid_is_normalised_or_dropped(tmp_path):
    doc = json.loads(SMALL)
    doc["protocolSection"]["referencesModule"]["references"] = [
        {"pmid": "23032071\n", "type": "BACKGROUND", "citation": "A"},
        {"pmid": "PMID: 22663011", "type": "RESULT", "citation": "B"},
        {"pmid": "2303207x", "type": "BACKGROUND", "citation": "C"}]
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(doc))
    assert run("import", path, "--db", tmp_path / "kb.db", "--no-derive").exit_code == 0
    db = open_db(str(tmp_path / "kb.db"))
    assert [r["pmid"] for r in db["trial_references"].rows_where(order_by="position")] == [
        "23032071", "22663011", None]
    assert {r["article_id"] for r in db["article_trials"].rows} == {"pmid:23032071", "pmid:22663011"}


def test_trial_numbers_an_article_states_are_normalised(tmp_path):
    from .conftest import FIXTURES

    path = FIXTURES / "crossref" / "works_10.1136_esmoopen-2020-000776_body_extracted_from_habanero_cassette.json"
    work = json.loads(path.read_text())
    numbers = work["message"]["clinical-trial-number"]
    numbers[0]["clinical-trial-number"] = " " + numbers[0]["clinical-trial-number"].lower() + "\n"
    numbers.append({"clinical-trial-number": "NCT0379732", "registry": "10.18810/clinical-trials-gov"})
    (tmp_path / "work.json").write_text(json.dumps(work))
    assert run("import", tmp_path / "work.json", "--db", tmp_path / "kb.db", "--no-derive").exit_code == 0
    db = open_db(str(tmp_path / "kb.db"))
    assert sorted(r["nct_id"] for r in db["article_trials"].rows_where("evidence = 'crossref'")) == [
        "NCT03797326", "NCT04008797"]


def test_build_options_are_normalised_or_refused(tmp_path, server):
    result = run("build", "--nct", "NCT03418623\nNCT00000001", "--db", tmp_path / "kb.db")
    assert result.exit_code == 2 and "8 digits" in result.output and not (tmp_path / "kb.db").exists()
    result = run("build", "--pmid", "32009091\n", "--pmid", "3200909x", "--db", tmp_path / "kb.db")
    assert result.exit_code == 2 and "3200909x" in result.output and server.requests == []
