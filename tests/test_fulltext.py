"""JATS full text: the parse of real articles (sections, tables with resolved spans and header paths, figures),
hostile input refused within bounds, `kb import` of .nxml files, and the harvest of Europe PMC's fullTextXML only
for an open-access article."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from datasette.utils import tilde_encode
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from harvest.articles import fulltext
from harvest.errors import ParseError
from harvest.fulltext import jats
from kb import pipeline
from kb.cli import cli
from kb.store.schema import open_db

from .conftest import db_dump, fixture_bytes, fixture_path
from .loopback import Reply

COUNTS = {  # file: (article id, sections, tables, cells, figures)
    "PMC111193_anh_hea_rct_evidence_inference.nxml": ("pmid:11960557", 10, 5, 204, 0),
    "PMC1131903_stethoscope_rct_evidence_inference.nxml": ("pmid:15882458", 12, 5, 163, 1),
    "PMC1166569_transplant_exercise_evidence_inference.nxml": ("pmid:15918901", 12, 0, 0, 1),
    "PMC1190172_signature_survey_rct_evidence_inference.nxml": ("pmid:16091137", 9, 0, 0, 3),
    "PMC1241419_abstract_only_evidence_inference.nxml": ("pmid:12676590", 0, 0, 0, 0),  # front matter only
    "efetch_pmc3040717_jats_biomcp.xml": ("pmid:20516115", 14, 2, 464, 4),
}
JATS_FILES = [fixture_path("jats", name) for name in COUNTS]
TRIAL = fixture_bytes("jats", "PMC111193_anh_hea_rct_evidence_inference.nxml")  # RCT, 5 results tables
BRCA1 = fixture_bytes("jats", "efetch_pmc3040717_jats_biomcp.xml")  # PMC efetch: multi-level and spanning headers
LITE = fixture_bytes("europepmc", "search_lite_pmid20516115_biomcp.json")  # Europe PMC record of the BRCA1 article


def record(body: bytes) -> dict:
    [found] = fulltext.parse(body, "test")
    return found


def cell(table: dict, row: int, col: int) -> dict:
    return next(c for c in table["cells"] if (c["row"], c["col"]) == (row, col))


def test_the_trial_report_gives_its_identifiers_sections_and_tables():
    found = record(TRIAL)
    text = found["full_text"]
    assert found["ids"] == {"pmid": "11960557", "doi": "10.1186/1471-2253-2-1", "pmcid": "PMC111193"}
    assert [s["label"] for s in found["sections"]] == ["Background", "Methods", "Results", "Conclusions"]
    assert (len(text["sections"]), len(text["tables"]), len(text["figures"])) == (10, 5, 0)
    assert [len(t["cells"]) for t in text["tables"]] == [36, 32, 48, 28, 60]
    assert [s["headings"] for s in text["sections"][1:4]] == [["Methods"], ["Methods", "HEA"],
                                                             ["Methods", "Statistics"]]
    assert text["sections"][4]["text"].startswith("In all 33 patients were screened")  # Results, tables left out
    results = text["sections"][4]["text"]
    assert "Demographics and preoperative" not in results and "10/4" not in results


def test_section_spans_place_each_text_in_the_documents_plain_text():
    sections = record(TRIAL)["full_text"]["sections"]
    document = "\n\n".join(s["text"] for s in sections)
    assert all(document[s["start"]:s["end"]] == s["text"] for s in sections)
    assert sections[0]["path"] == "/article/body/sec[1]" and sections[2]["path"] == "/article/body/sec[2]/sec[1]"


def test_a_results_cell_is_read_with_its_header_path_as_the_file_prints_it():
    table = record(TRIAL)["full_text"]["tables"][2]
    assert (table["label"], table["caption"]) == ("Table 3", "Blood loss and substitution for the patients.")
    assert table["footnotes"] == ["ANH: Acute normovolaemic hemodilution; non-ANH: No acute normovolaemic "
                                  "hemodilution; Mean (SD) * significance"]
    total = cell(table, 7, 1)  # <tr> 7 of the file: "Total blood loss, mL" | "1306 (300)" | "1026 (294)" | "0.02*"
    assert total["text"] == "1306 (300)" and not total["header"]
    assert total["column_headers"] == ["ANH 14"] and total["row_headers"] == ["Total blood loss, mL"]
    assert cell(table, 7, 3)["text"] == "0.02*" and cell(table, 7, 3)["column_headers"] == ["P"]
    assert cell(table, 0, 1) == {"row": 0, "col": 1, "rowspan": 1, "colspan": 1, "header": True,
                                 "text": "ANH 14", "column_headers": [], "row_headers": []}


def test_spanning_and_multi_level_headers_are_resolved_on_the_grid():
    found = record(BRCA1)
    text = found["full_text"]
    assert found["ids"] == {"pmid": "20516115", "doi": "10.1158/0008-5472.can-09-4563", "pmcid": "PMC3040717"}
    assert (len(text["sections"]), len(text["figures"])) == (14, 4)
    assert [len(t["cells"]) for t in text["tables"]] == [251, 213]
    classes = text["tables"][1]  # thead: five headers of colspan="2" over ten columns of variants
    head = cell(classes, 0, 2)
    assert (head["text"], head["colspan"]) == ("Moderate functional effect†", 2)
    assert [cell(classes, 1, c)["column_headers"] for c in (2, 3, 4)] == [
        ["Moderate functional effect†"], ["Moderate functional effect†"], ["Uncertain‡"]]
    assays = text["tables"][0]  # three header rows: "Genetic or integrative methods*" above "IARC class"
    assert cell(assays, 3, 1)["column_headers"] == ["Genetic or integrative methods*", "IARC class"]
    assert cell(assays, 1, 1)["colspan"] == 2 and cell(assays, 3, 1)["row_headers"] == ["M1652I"]
    assert text["figures"][0]["label"] == "Figure 1" and text["figures"][0]["caption"]


@pytest.mark.parametrize("name", COUNTS)
def test_each_fixture_gives_its_sections_tables_and_one_cell_per_table_cell_of_the_file(name):
    body = fixture_bytes("jats", name)
    text = record(body)["full_text"]
    assert (len(text["sections"]), len(text["tables"]), sum(len(t["cells"]) for t in text["tables"]),
            len(text["figures"])) == COUNTS[name][1:]
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    in_file = [len(wrap.xpath("(.//table)[1]//td | (.//table)[1]//th")) for wrap in root.iter("table-wrap")]
    assert [len(t["cells"]) for t in text["tables"]] == in_file  # each <td>/<th> once, spans or not
    assert all(s["text"] and s["end"] - s["start"] == len(s["text"]) for s in text["sections"])


def test_a_label_row_heads_the_rows_under_it_and_an_untitled_section_has_no_heading():
    scores = record(fixture_bytes("jats", "PMC1131903_stethoscope_rct_evidence_inference.nxml"))["full_text"]
    table = scores["tables"][3]  # Table 4: "Mean scores:" alone on its row, then one row per group
    assert cell(table, 2, 1)["text"] == "20"
    assert cell(table, 2, 1)["row_headers"] == ["Mean scores:", '"The Stethoscope®":']
    assert cell(table, 3, 10)["row_headers"] == ["Mean scores:", "Control group:"]
    assert cell(table, 3, 10)["column_headers"] == ["10"] and cell(table, 3, 10)["text"] == "27"
    assert cell(scores["tables"][4], 1, 1)["text"] == "n = 7"
    exercise = record(fixture_bytes("jats", "PMC1166569_transplant_exercise_evidence_inference.nxml"))["full_text"]
    assert exercise["sections"][0]["headings"] == [] and exercise["sections"][0]["path"] == "/article/body/sec[1]"
    assert [s["headings"] for s in exercise["sections"][5:8]] == [["Results"], ["Results", "Aerobic Endurance"],
                                                                 ["Results", "Leg Press"]]


def table_xml(rows: str, head: str = "") -> bytes:
    return (f"<article><front><article-meta><article-id pub-id-type='pmid'>1</article-id></article-meta></front>"
            f"<body><table-wrap><table>{head}<tbody>{rows}</tbody></table></table-wrap></body></article>").encode()


def test_a_rowspan_fills_the_rows_below_and_a_group_row_labels_the_rows_under_it():
    body = table_xml("<tr><td>Sex</td><td></td><td></td></tr><tr><td>Male</td><td>5</td><td>6</td></tr>"
                     "<tr><td rowspan='2'>Age</td><td>50</td><td>51</td></tr><tr><td>60</td><td>61</td></tr>",
                     "<thead><tr><th rowspan='2'></th><th colspan='2'>Arm</th></tr><tr><th>A</th><th>B</th></tr>"
                     "</thead>")
    [table] = record(body)["full_text"]["tables"]
    assert cell(table, 3, 1) == {"row": 3, "col": 1, "rowspan": 1, "colspan": 1, "header": False, "text": "5",
                                 "column_headers": ["Arm", "A"], "row_headers": ["Sex", "Male"]}
    assert cell(table, 5, 1)["row_headers"] == ["Sex", "Age"]  # the rowspan of "Age" covers row 5
    assert cell(table, 4, 0)["rowspan"] == 2 and not any(c["row"] == 5 and c["col"] == 0 for c in table["cells"])


@pytest.mark.parametrize("attribute", ["colspan='1000000000'", "rowspan='99999999999999999999999'"])
def test_an_absurd_span_is_refused_without_allocating(attribute):
    with pytest.raises(ParseError, match=r"^JATS full text test \(/article/body/table-wrap\): parse failure: a "
                                         r"(colspan|rowspan) of \d+…?, more than 1000; not read$"):
        fulltext.parse(table_xml(f"<tr><td {attribute}>x</td></tr>"), "test")


def test_header_paths_stay_short_on_a_hostile_row_and_deep_nesting_is_refused():
    stubs = "".join(f"<th>h{i}</th>" for i in range(3000))
    [table] = record(table_xml(f"<tr><td>Sex</td></tr><tr>{stubs}<td>5</td></tr>"))["full_text"]["tables"]
    five = cell(table, 1, 3000)
    assert five["row_headers"] == ["Sex"] + [f"h{i}" for i in range(jats.MAX_PATH - 1)]  # a short label row too
    deep = b"<article><front/><body>" + b"<sec>" * 300 + b"</sec>" * 300 + b"</body></article>"
    with pytest.raises(ParseError, match="not well-formed XML"):  # lxml's depth limit (huge_tree off)
        fulltext.parse(deep, "test")


def test_tables_over_the_cell_budget_are_refused():
    rows = "<tr>" + "<td colspan='1000'>x</td>" * 201 + "</tr>"
    with pytest.raises(ParseError, match="more than 200000 grid positions; not read"):
        fulltext.parse(table_xml(rows), "test")


def test_entities_dtds_other_xml_and_oversized_bodies_are_refused(monkeypatch):
    laughs = b'<!DOCTYPE a [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;&x;">]><article><front/>&y;</article>'
    with pytest.raises(ParseError, match="uses the entity"):
        fulltext.parse(laughs, "test")
    with pytest.raises(ParseError, match=r"not a JATS article \(root <catalog>"):
        fulltext.parse(b"<catalog><book/></catalog>", "test")
    with pytest.raises(ParseError, match="not well-formed XML"):
        fulltext.parse(TRIAL[:5000], "test")
    monkeypatch.setattr(jats, "MAX_BYTES", 1000)
    with pytest.raises(ParseError, match="more than the 1000 a JATS article may have"):
        fulltext.parse(TRIAL, "test")


spans = st.lists(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=5),
                 min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(spans, st.integers(0, 2))
def test_cells_never_overlap_and_headers_come_from_the_head(rows, head_rows):
    tr = ["<tr>" + "".join(f"<td rowspan='{r}' colspan='{c}'>v{i}.{j}</td>" for j, (r, c) in enumerate(row)) + "</tr>"
          for i, row in enumerate(rows)]
    head = f"<thead>{''.join(tr[:head_rows])}</thead>" if head_rows else ""
    [table] = record(table_xml("".join(tr[head_rows:]) or "<tr><td>x</td></tr>", head))["full_text"]["tables"]
    taken = set()
    for c in table["cells"]:
        area = {(c["row"] + i, c["col"] + j) for i in range(c["rowspan"]) for j in range(c["colspan"])}
        assert not area & taken
        taken |= area
        assert c["header"] == (c["row"] < min(head_rows, len(rows))) or not head_rows
        headers = {h["text"] for h in table["cells"] if h["header"]}
        assert set(c["column_headers"]) <= headers


@pytest.fixture
def db(tmp_path):
    return open_db(str(tmp_path / "kb.db"))


def test_kb_import_of_jats_files_stores_sections_tables_cells_and_figures(db, tmp_path):
    summary = pipeline.import_paths(db, JATS_FILES)
    assert summary.failed == [] and sorted(summary.article_ids) == sorted(c[0] for c in COUNTS.values())
    for aid, *counts in COUNTS.values():
        assert [db[t].count_where("article_id = ?", [aid]) for t in ("article_sections", "article_tables",
                                                                     "table_cells", "article_figures")] == counts
    seven = db["table_cells"].get(("pmid:11960557/table/3", 1, 1))  # Table 4, "Zero" units, ANH: 7 patients
    assert (seven["text"], seven["value_num"], seven["decimals"], json.loads(seven["column_headers"])) == (
        "7", 7.0, 0, ["ANH 14"])
    assert db["table_cells"].get(("pmid:11960557/table/2", 7, 1))["value_num"] is None  # "1306 (300)"
    table = db["article_tables"].get("pmid:11960557/table/2")
    assert table["label"] == "Table 3" and table["snapshot_id"].startswith("jats-full-text/")
    assert [r["headings"] for r in db.query(
        "select headings from article_sections_fts where article_sections_fts match 'hematocrit' order by rowid")
            ][:1] == ['["Methods"]']
    first = db_dump(tmp_path / "kb.db")
    pipeline.import_paths(db, JATS_FILES)
    assert db_dump(tmp_path / "kb.db") == first


def test_statistics_of_results_sections_are_results_rows_pointing_at_their_section(db):
    pipeline.import_paths(db, JATS_FILES)
    rows = list(db.query("select * from results where subject = 'pmid:11960557' and kind = 'fulltext' order by id"))
    results = db["article_sections"].get(("pmid:11960557", 4))  # headings ["Results"]
    assert rows and {r["path"] for r in rows} == {results["path"]} == {"/article/body/sec[3]"}
    assert all(r["snapshot_id"] == results["snapshot_id"] and r["source_text"] in results["text"] for r in rows)
    mean = next(r for r in rows if r["statistic"] == "mean" and r["value"] == "288")
    assert results["text"][mean["span_start"]:mean["span_end"]].rstrip() == "288 ± 32" and mean["dispersion"] == "32"
    leg = db["article_sections"].get(("pmid:15918901", 7))  # ["Results", "Leg Press"]: a subsection counts too
    assert [(r["value"], r["dispersion"]) for r in db.query(
        "select value, dispersion from results where path = ? and dispersion is not null order by span_start",
        [leg["path"]])] == [("48", "16"), ("78", "27")]  # "pre: 48 ± 16 kg vs. post: 78 ± 27 kg"
    for kind, uses in db.execute("select kind, uses from checks"):
        rows = [db["results"].get(i) for i in json.loads(uses) if "/publication/" in i]
        kinds = {r["kind"] for r in rows}
        if kind == "abstract_vs_fulltext":
            assert kinds == {"abstract", "fulltext"}
        elif "fulltext" in kinds:  # a Results section's check reads that section's numbers only
            assert kinds == {"fulltext"} and len({r["path"] for r in rows}) == 1


def test_a_file_that_is_not_jats_or_is_broken_is_one_line_and_leaves_the_kb(db, tmp_path):
    other, broken = tmp_path / "catalog.xml", tmp_path / "cut.nxml"
    other.write_bytes(b'<?xml version="1.0"?><catalog><book id="1"/></catalog>')
    broken.write_bytes(TRIAL[:20000])
    before = db_dump(tmp_path / "kb.db")
    summary = pipeline.import_paths(db, [other, broken])
    assert summary.failed[0].startswith(f"{other}: not a ClinicalTrials.gov study") and "JATS full text" in \
        summary.failed[0]
    assert summary.failed[1].startswith("JATS full text cut.nxml: parse failure: not well-formed XML")
    assert all("\n" not in line for line in summary.failed) and db_dump(tmp_path / "kb.db") == before


def test_harvest_fetches_the_full_text_of_an_open_access_article_and_keeps_it_as_a_snapshot(server, db):
    lite = json.loads(LITE)
    lite["resultList"]["result"][0]["isOpenAccess"] = "Y"  # changed for the test: the recorded article is not OA
    server.route("/europepmc/search", Reply(200, json.dumps(lite).encode()))
    server.route("/fulltext/PMC3040717/fullTextXML", Reply(200, BRCA1, {"Content-Type": "application/xml"}))
    report = pipeline.harvest_article(db, pmid="20516115")
    assert report["sources_ok"] == ["Europe PMC", "JATS full text"]
    assert server.count("/fulltext/PMC3040717/fullTextXML") == 1
    [snapshot] = db.query("select id, url, body from snapshots where source = 'JATS full text'")
    assert snapshot["url"].endswith("/fulltext/PMC3040717/fullTextXML") and snapshot["body"] == BRCA1
    assert db["article_tables"].count_where("article_id = 'pmid:20516115' and snapshot_id = ?", [snapshot["id"]]) == 2


def test_harvest_fetches_no_full_text_of_an_article_that_is_not_open_access(server, db):
    server.route("/europepmc/search", Reply(200, LITE))  # as recorded: isOpenAccess "N"
    server.route("/fulltext/PMC3040717/fullTextXML", Reply(200, BRCA1))
    report = pipeline.harvest_article(db, pmid="20516115")
    assert report["sources_ok"] == ["Europe PMC"] and server.count("/fulltext/PMC3040717/fullTextXML") == 0
    assert db["article_sections"].count == 0


@pytest.mark.parametrize("fields, fetched", [
    ({"open_access": 1}, True), ({"license": "cc by-nc-nd"}, True), ({"license": "CC0"}, True),
    ({"license": "https://creativecommons.org/licenses/by/4.0/"}, True),
    ({"open_access": 0, "license": "https://www.elsevier.com/tdm/userlicense/1.0/"}, False),
    ({"license": "http://onlinelibrary.wiley.com/termsAndConditions#vor"}, False), ({}, False)])
def test_only_an_open_licence_opens_the_gate(fields, fetched):
    assert fulltext.open_licence([{"fields": fields}]) is fetched


def test_the_abstract_and_the_full_text_reporting_one_count_are_compared(tmp_path):
    """PMC1190172 (real JATS, evidence-inference) gives "1506 of 1905 (79.1%)" in its abstract and in its Results:
    the same count of the same n, so their percentages are compared; numbers not identified so are never paired."""
    from kb.derive.fulltext_checks import _same_quantity

    db_path = tmp_path / "kb.db"
    name = "PMC1190172_signature_survey_rct_evidence_inference.nxml"
    assert CliRunner().invoke(cli, ["import", str(fixture_path("jats", name)), "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))
    twice = list(db["checks"].rows_where("kind = 'abstract_vs_fulltext'"))
    assert twice and {c["verdict"] for c in twice} == {"consistent"}
    for check in twice:
        first, second = (db["results"].get(i) for i in json.loads(check["uses"]))
        assert (first["kind"], second["kind"]) == ("abstract", "fulltext")
        assert (first["k"], first["n"]) == (second["k"], second["n"]) and first["value"] == second["value"]
        assert f"count {first['k']} of {first['n']}" in check["detail"]
    abstract = {"statistic": "hazard_ratio", "value": "0.75", "lower": "0.60", "upper": "0.93", "p_text": "p = 0.01",
                "k": None, "n": None}
    assert _same_quantity(abstract, {**abstract, "p_text": "P = 0.03"})[1:] == ("p", "p = 0.01", "P = 0.03")
    assert _same_quantity(abstract, {**abstract, "upper": "0.94", "p_text": "P = 0.03"}) is None  # another interval


def test_a_p_reported_differently_for_the_same_estimate_is_inconsistent():
    from kb.checks.twice import reported_twice

    verdict = reported_twice("hazard ratio 0.75 (0.60 to 0.93)", "p", "p = 0.01", "P = 0.03", "Results › Efficacy")
    assert verdict["verdict"] == "inconsistent"
    assert verdict["detail"] == ("The same hazard ratio 0.75 (0.60 to 0.93) is reported with p = 0.01 in the abstract "
                                 "and p = 0.03 in the full text (Results › Efficacy): no value rounds to both.")
    assert reported_twice("x", "p", "p < 0.001", "p = 0.0004", "Results")["verdict"] == "consistent"
    assert reported_twice("count 12 of 40", "percentage", "30", "31", "Results")["verdict"] == "inconsistent"


@pytest.mark.anyio
async def test_a_table_is_served_as_printed_with_its_checked_cells_linked_to_their_checks(tmp_path):
    """PMC111193 Table 1 (real JATS): /kb/-/table/<id> lays the cells out as printed (spans kept), and a cell whose
    number entered a check is coloured by its verdict and links to that check, whose uses name the cell's row."""
    from bs4 import BeautifulSoup
    from datasette.utils import tilde_decode

    from kb.serve import datasette_for

    db_path = tmp_path / "kb.db"
    name = "PMC111193_anh_hea_rct_evidence_inference.nxml"
    assert CliRunner().invoke(cli, ["import", str(fixture_path("jats", name)), "--db", str(db_path)]).exit_code == 0
    db = open_db(str(db_path))
    table = next(db["article_tables"].rows_where("label = 'Table 1'"))
    datasette = datasette_for(db_path)
    response = await datasette.client.get(f"/kb/-/table/{table['id']}")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "lxml")
    printed = page.select("table.kb-article-table tr")
    assert len(printed) == len({c["row"] for c in db["table_cells"].rows_where("table_id = ?", [table["id"]])})
    cell = next(td for td in page.select("table.kb-article-table td") if td.get_text().startswith("75.8 (6.4)"))
    assert cell["class"] == ["kb-verdict-consistent"]
    check_id = tilde_decode(cell.a["href"].rsplit("/", 1)[1])
    check = db["checks"].get(check_id)
    assert cell.a["title"] == check["detail"]
    used = [db["results"].get(i) for i in json.loads(check["uses"])]
    assert any(r["path"].endswith("/cell[4,2]") and r["value"] == "75.8" for r in used)  # row 4, column 2 as printed
    href = page.find("a", string="cells as rows")["href"]
    listed = (await datasette.client.get(href.replace("/table_cells?", "/table_cells.json?_shape=array&"))).json()
    assert len(listed) == db["table_cells"].count_where("table_id = ?", [table["id"]]) > 0
    assert (await datasette.client.get("/kb/-/table/pmid:1/table/9")).status_code == 404
    db["article_tables"].update(table["id"], {"caption": '<script>window.__pwned = 1</script>"&'})
    shown = (await datasette.client.get(f"/kb/-/table/{table['id']}")).text
    assert "<script>window.__pwned" not in shown and "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in shown
    row_page = (await datasette.client.get(f"/kb/article_tables/{tilde_encode(table['id'])}")).text
    assert f'href="/kb/-/table/{table["id"]}"' in row_page
