"""The registry facts AACT users expect as tables: secondary_ids, sponsors, mesh_terms, countries.

Read from real recorded responses: NCT00791778 (API v2, byte-verified), NCT00763412 (the one fixture whose browse
modules hold browse leaves and branches) and the 100-study bulk download. Expected values are read from the files
themselves (and a few named here, as the files write them); edited copies are said to be edited where they are used.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from harvest.registries import ctgov
from kb.cli import cli
from kb.load.trials import OWNED, study_scopes
from kb.serve import DATABASE, datasette_for
from kb.store.schema import FOREIGN_KEYS, STUDY_TABLES, TABLES, open_db

from .conftest import db_dump, fixture_bytes, fixture_path

NEW_TABLES = ("secondary_ids", "sponsors", "mesh_terms", "countries")
BULK = fixture_path("ctgov", "v2_bulk_ctg-studies_nsclc_100studies_nsclcbench.json")
SORAFENIB = "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json"
LEAVES = "v2_study_NCT00763412_aact.json"
BROWSE = {"condition": "conditionBrowseModule", "intervention": "interventionBrowseModule"}
SPONSORS = "protocolSection.sponsorCollaboratorsModule"
LISTS = {"mesh": "meshes", "ancestor": "ancestors", "leaf": "browseLeaves", "branch": "browseBranches"}


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def doc_of(name: str) -> dict:
    return json.loads(fixture_bytes("ctgov", name))


def at(doc, path: str):
    """The value at a JSON path such as `a.b[2].c` in `doc`."""
    for step in path.replace("]", "").replace("[", ".").split("."):
        doc = doc[int(step)] if step.isdigit() else doc[step]
    return doc


@pytest.fixture(scope="module")
def bulk_kb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bulk") / "kb.db"
    assert "100 stored" in run("import", str(BULK), "--db", str(path), "--no-derive").output
    return path


# --- the contract and the schema --------------------------------------------------------------------------------------


def test_each_new_table_is_owned_by_the_study_and_points_at_its_trial():
    for table in NEW_TABLES:
        assert table in STUDY_TABLES and OWNED[table] == table and study_scopes("NCT00000001")[table] == \
            {"nct_id": "NCT00000001"}
        assert ("nct_id", "trials", "nct_id") in FOREIGN_KEYS[table] and "path" in TABLES[table][0]


# --- one record: NCT00791778 ------------------------------------------------------------------------------------------


def test_sorafenib_record_mesh_terms_as_the_browse_modules_give_them():
    doc = doc_of(SORAFENIB)
    rows = ctgov.parse_study(fixture_bytes("ctgov", SORAFENIB))["mesh_terms"]
    assert {"nct_id": "NCT00791778", "kind": "condition", "relation": "mesh", "position": 0, "mesh_id": "D010051",
            "browse_id": None, "term": "Ovarian Neoplasms", "relevance": None, "as_found": None,
            "path": "derivedSection.conditionBrowseModule.meshes[0]"} in rows
    assert [(r["mesh_id"], r["term"]) for r in rows if r["kind"] == "intervention" and r["relation"] == "mesh"] == \
        [("D000077157", "Sorafenib")]
    for kind, module in BROWSE.items():
        for relation in ("mesh", "ancestor"):
            listed = doc["derivedSection"][module][LISTS[relation]]
            assert [(r["mesh_id"], r["term"]) for r in rows if (r["kind"], r["relation"]) == (kind, relation)] == \
                [(item["id"], item["term"]) for item in listed]
    ancestors = {r["term"] for r in rows if r["kind"] == "condition" and r["relation"] == "ancestor"}
    assert {"Neoplasms", "Ovarian Diseases", "Genital Neoplasms, Female"} <= ancestors and len(ancestors) == 14
    assert not any(r["relation"] in ("leaf", "branch") for r in rows)  # this record has none


def test_sorafenib_record_sponsor_secondary_ids_and_countries():
    doc = doc_of(SORAFENIB)
    record = ctgov.parse_study(fixture_bytes("ctgov", SORAFENIB))
    assert record["sponsors"] == [{"nct_id": "NCT00791778", "role": "lead", "position": 0, "name": "Bayer",
                                   "class": "INDUSTRY", "path": f"{SPONSORS}.leadSponsor"}]
    assert (record["trial"]["sponsor"], record["trial"]["sponsor_class"], record["trial"]["collaborators"]) == \
        ("Bayer", "INDUSTRY", None)  # the trials columns stay as they were
    assert [(s["secondary_id"], s["type"], s["link"]) for s in record["secondary_ids"]] == \
        [("2008-004429-41", "EUDRACT_NUMBER", None), ("2008", "NIH", "https://reporter.nih.gov/quickSearch/2008")]
    removed = [c for c in record["countries"] if c["removed"]]
    assert removed == [{"nct_id": "NCT00791778", "country": "China", "removed": 1,
                        "path": "derivedSection.miscInfoModule.removedCountries[0]"}]
    located = [c["country"] for c in record["countries"] if not c["removed"]]
    in_file = [loc["country"] for loc in doc["protocolSection"]["contactsLocationsModule"]["locations"]]
    assert located == list(dict.fromkeys(in_file)) and len(located) == 14 < len(in_file)
    assert {"United States", "Belgium", "Japan", "South Korea"} <= set(located) and "China" not in located
    for row in record["countries"]:
        assert at(doc, row["path"]) == row["country"]


def test_browse_leaves_and_branches_keep_relevance_and_the_text_found():
    doc = doc_of(LEAVES)
    rows = ctgov.parse_study(fixture_bytes("ctgov", LEAVES))["mesh_terms"]
    leaves = [r for r in rows if r["kind"] == "condition" and r["relation"] == "leaf"]
    assert [(r["browse_id"], r["term"], r["relevance"], r["as_found"]) for r in leaves] == [
        (leaf["id"], leaf["name"], leaf["relevance"], leaf.get("asFound"))
        for leaf in doc["derivedSection"]["conditionBrowseModule"]["browseLeaves"]]
    assert ("M6805", "Diabetes Mellitus", "HIGH", "Diabetes") in \
        {(r["browse_id"], r["term"], r["relevance"], r["as_found"]) for r in leaves}
    branches = {(r["kind"], r["browse_id"], r["term"]) for r in rows if r["relation"] == "branch"}
    assert {("condition", "Rare", "Rare Diseases"), ("intervention", "Hypo", "Hypoglycemic Agents")} <= branches
    assert all(r["mesh_id"] is None for r in rows if r["relation"] in ("leaf", "branch"))
    assert all(r["browse_id"] is None and r["mesh_id"] for r in rows if r["relation"] in ("mesh", "ancestor"))
    assert ("intervention", "mesh", "C000072379", "Repaglinide") in \
        {(r["kind"], r["relation"], r["mesh_id"], r["term"]) for r in rows}


def test_parts_of_unexpected_shape_give_no_rows_rather_than_errors():
    # Built by this test from the real record, with parts broken as a faulty response could break them.
    doc = doc_of(SORAFENIB)
    doc["protocolSection"]["identificationModule"]["secondaryIdInfos"] = ["2008-004429-41", {"type": "NIH"}]
    doc["protocolSection"]["sponsorCollaboratorsModule"] = {"leadSponsor": "Bayer",
                                                            "collaborators": ["x", {}, {"class": "NIH"}]}
    doc["protocolSection"]["contactsLocationsModule"]["locations"] = [{"city": "Oslo"}, {"country": None}]
    doc["derivedSection"] = {"miscInfoModule": {"removedCountries": [None, "", 3, "Peru", "Peru"]},
                             "conditionBrowseModule": {"meshes": {"id": "D010051"}, "ancestors": [None, {}]}}
    record = ctgov.parse_study(doc)
    assert record["secondary_ids"] == [] and record["mesh_terms"] == []
    assert record["sponsors"] == [{"nct_id": "NCT00791778", "role": "collaborator", "position": 2, "name": None,
                                   "class": "NIH", "path": f"{SPONSORS}.collaborators[2]"}]
    assert [(c["country"], c["removed"], c["path"]) for c in record["countries"]] == \
        [("Peru", 1, "derivedSection.miscInfoModule.removedCountries[3]")]


# --- the 100-study bulk download --------------------------------------------------------------------------------------


def stored(db, table: str) -> dict[str, list[dict]]:
    by_trial = {}
    for row in db.query(f"select * from [{table}] order by rowid"):
        by_trial.setdefault(row["nct_id"], []).append(row)
    return by_trial


def test_bulk_download_fills_each_table_as_the_records_say(bulk_kb):
    db = open_db(str(bulk_kb))
    studies = {s["protocolSection"]["identificationModule"]["nctId"]: s for s in json.loads(BULK.read_text())}
    secondary, sponsors = stored(db, "secondary_ids"), stored(db, "sponsors")
    mesh, countries = stored(db, "mesh_terms"), stored(db, "countries")
    for nct, doc in studies.items():
        protocol, derived = doc["protocolSection"], doc.get("derivedSection", {})
        infos = protocol["identificationModule"].get("secondaryIdInfos", [])
        assert [(r["secondary_id"], r["type"], r["domain"], r["link"]) for r in secondary.get(nct, [])] == \
            [(i["id"], i["type"], i.get("domain"), i.get("link")) for i in infos], nct
        module = protocol["sponsorCollaboratorsModule"]
        assert [(r["role"], r["name"], r["class"]) for r in sponsors[nct]] == \
            [("lead", module["leadSponsor"]["name"], module["leadSponsor"]["class"])] + \
            [("collaborator", c["name"], c["class"]) for c in module.get("collaborators", [])], nct
        expected = Counter({(kind, relation): len(derived.get(name, {}).get(LISTS[relation], []))
                            for kind, name in BROWSE.items() for relation in LISTS})
        assert +Counter((r["kind"], r["relation"]) for r in mesh.get(nct, [])) == +expected, nct
        located = {loc["country"] for loc in protocol.get("contactsLocationsModule", {}).get("locations", [])}
        removed = set(derived.get("miscInfoModule", {}).get("removedCountries", []))
        assert {(r["country"], r["removed"]) for r in countries.get(nct, [])} == \
            {(c, 0) for c in located} | {(c, 1) for c in removed}, nct
        assert len(countries.get(nct, [])) == len(located) + len(removed)


def test_bulk_download_row_counts_and_values_named_in_the_file(bulk_kb):
    db = open_db(str(bulk_kb))
    assert {t: db[t].count for t in NEW_TABLES} == \
        {"secondary_ids": 12, "sponsors": 135, "mesh_terms": 691, "countries": 153}
    assert dict(db.execute("select role, count(*) from sponsors group by role").fetchall()) == \
        {"lead": 100, "collaborator": 35}
    assert [(r["secondary_id"], r["type"], r["domain"]) for r in
            db.query("select * from secondary_ids where nct_id = 'NCT02369484' order by position")] == [
        ("2014-005098-35", "EUDRACT_NUMBER", None), ("1200.230", "OTHER", "Boehringer Ingelheim"),
        ("SNCTP000001674", "REGISTRY", "Swiss National Clinical Trials Portal (SNCTP)")]
    assert [r["country"] for r in db.query("select country from countries where nct_id = 'NCT06094296' and removed "
                                           "order by country")] == \
        ["Argentina", "Chile", "France", "Italy", "Poland", "Romania", "Spain"]
    assert db.execute("select count(*) from countries where country = 'China' and not removed").fetchone()[0] == 52
    # every collaborator row is one of trials.collaborators, which stays the JSON list it was
    for trial in db["trials"].rows:
        assert json.loads(trial["collaborators"] or "[]") == [r["name"] for r in db.query(
            "select name from sponsors where nct_id = ? and role = 'collaborator' order by position",
            [trial["nct_id"]])]


def test_every_row_points_at_its_value_in_its_snapshot(bulk_kb):
    db = open_db(str(bulk_kb))
    bodies = {r["nct_id"]: json.loads(r["body"]) for r in db.query(
        "select t.nct_id, s.body from trials t join snapshots s on s.id = t.snapshot_id")}
    checked = 0
    for row in db.query("select * from secondary_ids"):
        assert at(bodies[row["nct_id"]], row["path"])["id"] == row["secondary_id"]
        checked += 1
    for row in db.query("select * from sponsors"):
        assert at(bodies[row["nct_id"]], row["path"])["name"] == row["name"]
        checked += 1
    for row in db.query("select * from mesh_terms"):
        assert at(bodies[row["nct_id"]], row["path"])["id"] == row["mesh_id"]
        checked += 1
    for row in db.query("select * from countries"):
        assert at(bodies[row["nct_id"]], row["path"]) == row["country"]
        checked += 1
    assert checked == 12 + 135 + 691 + 153


def test_reimporting_the_download_changes_nothing(bulk_kb, tmp_path):
    copy = tmp_path / "kb.db"
    copy.write_bytes(bulk_kb.read_bytes())
    before = db_dump(copy)
    assert "0 stored, 100 unchanged" in run("import", str(BULK), "--db", str(copy), "--no-derive").output
    assert db_dump(copy) == before


def test_a_kb_built_before_these_tables_gets_them_when_opened(bulk_kb, tmp_path):
    """Migration m004: a KB whose trials were stored before the tables existed (made here by dropping them from a copy
    and forgetting the migration) gets the rows an import gives, from the stored responses."""
    copy = tmp_path / "kb.db"
    copy.write_bytes(bulk_kb.read_bytes())
    with sqlite3.connect(copy) as conn:
        for table in NEW_TABLES:
            conn.execute(f"DROP TABLE [{table}]")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_registry_tables'")
    migrated, imported = open_db(str(copy)), open_db(str(bulk_kb))
    for table in NEW_TABLES:
        assert sorted(map(repr, migrated.execute(f"SELECT * FROM [{table}]"))) == \
            sorted(map(repr, imported.execute(f"SELECT * FROM [{table}]"))), table
        assert migrated[table].indexes and migrated[table].foreign_keys == imported[table].foreign_keys
    assert migrated["mesh_terms"].count == 691
    before = db_dump(copy)
    open_db(str(copy))  # applied once
    assert db_dump(copy) == before


# --- a new version replaces the rows ----------------------------------------------------------------------------------


def test_a_new_version_of_a_record_replaces_its_rows(tmp_path):
    db_path = tmp_path / "kb.db"
    run("import", str(fixture_path("ctgov", SORAFENIB)), "--db", str(db_path), "--no-derive")
    db = open_db(str(db_path))
    assert {t: db[t].count for t in NEW_TABLES} == {"secondary_ids": 2, "sponsors": 1, "mesh_terms": 30,
                                                    "countries": 15}
    # An edited copy of the real record stands for a later version (not recorded): posted a year later, one
    # secondary ID, the intervention browse module and the removed countries gone, sites left in one country, and
    # the NIH listed as a collaborator.
    later = doc_of(SORAFENIB)
    status = later["protocolSection"]["statusModule"]
    posted = status["lastUpdatePostDateStruct"]["date"]
    status["lastUpdatePostDateStruct"]["date"] = f"{int(posted[:4]) + 1}{posted[4:]}"
    later["protocolSection"]["identificationModule"]["secondaryIdInfos"].pop()
    later["protocolSection"]["sponsorCollaboratorsModule"]["collaborators"] = [
        {"name": "National Cancer Institute (NCI)", "class": "NIH"}]
    locations = later["protocolSection"]["contactsLocationsModule"]["locations"]
    later["protocolSection"]["contactsLocationsModule"]["locations"] = [
        loc for loc in locations if loc["country"] == "Japan"]
    del later["derivedSection"]["interventionBrowseModule"], later["derivedSection"]["miscInfoModule"]
    (tmp_path / "later.json").write_text(json.dumps(later))
    assert "1 stored" in run("import", str(tmp_path / "later.json"), "--db", str(db_path), "--no-derive").output
    db = open_db(str(db_path))
    assert [r["secondary_id"] for r in db["secondary_ids"].rows] == ["2008-004429-41"]
    assert [(r["role"], r["name"], r["class"]) for r in db.query("select * from sponsors order by role desc")] == \
        [("lead", "Bayer", "INDUSTRY"), ("collaborator", "National Cancer Institute (NCI)", "NIH")]
    assert {r["kind"] for r in db["mesh_terms"].rows} == {"condition"} and db["mesh_terms"].count == 15
    assert [(r["country"], r["removed"]) for r in db["countries"].rows] == [("Japan", 0)]
    assert db["trials"].get("NCT00791778")["collaborators"] == '["National Cancer Institute (NCI)"]'
    assert db["trial_versions"].count == 2


# --- Datasette ----------------------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("table, facets, default", [
    ("secondary_ids", {"type"}, True), ("sponsors", {"class", "role"}, True),
    ("countries", {"country", "removed"}, True),
    # none by default: on 100,000 trials (0.8 million rows) they took the page from about 110 to 480 ms
    ("mesh_terms", {"kind", "relation"}, False),
])
async def test_pages_facet_and_link_each_row_to_its_trial(fixture_kb, table, facets, default):
    datasette = datasette_for(fixture_kb)
    asked = [] if default else [("_facet", facet) for facet in sorted(facets)]
    query = urlencode([("nct_id", "NCT00791778"), ("_labels", "on"), ("_shape", "objects"), *asked])
    response = await datasette.client.get(f"/{DATABASE}/{table}.json?{query}")
    assert response.status_code == 200
    page = response.json()
    assert facets <= set(page["facet_results"]) and page["rows"]
    assert all(row["nct_id"]["label"].startswith("Comparison of Nexavar/Placebo") for row in page["rows"])
    if table == "mesh_terms":
        counts = {(facet, v["value"]): v["count"] for facet, result in page["facet_results"].items()
                  for v in result["results"]}
        assert counts == {("kind", "condition"): 15, ("kind", "intervention"): 15, ("relation", "mesh"): 2,
                          ("relation", "ancestor"): 28}
