"""Checks of full-text table numbers (kb.extract.tables, kb.derive.table_checks) on real published tables.

Each fixture in tests/fixtures/tables/ is an ArticleTable transcribed from a real open-access article's JATS (PLOS,
files of the allofplos package's starter corpus; repository, path and SHA-256 in tests/fixtures/tables/PROVENANCE.md):
the cells as printed, header paths as the table's head and stub give them. Tests marked SYNTHETIC use tables written
for the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.derive.table_checks import table_checks
from kb.extract.tables import read_table

TABLES = Path(__file__).parent / "fixtures" / "tables"


def load(name: str) -> dict:
    return json.loads((TABLES / name).read_text())


def checks(table: dict) -> list[tuple[dict, list[str]]]:
    return table_checks(read_table(table))


def on_row(found, kind: str, row: int) -> list[dict]:
    """The verdicts of `kind` whose cells include one of `row` (1-based, as printed)."""
    return [v for v, uses in found if v["kind"] == kind and any(u.startswith(f"r{row - 1}c") for u in uses)]


# transcribed from 10.1371/journal.pone.0026358 (rituximab vs placebo RCT in CFS) Table 1
# (file PLOS/allofplos allofplos/starter_corpus/journal.pone.0026358.xml): n in the column headers, a P column
RITUXIMAB = "pone.0026358_table1.json"
# transcribed from 10.1371/journal.pmed.1001518 (acupuncture/counselling RCT) Table 1, rows 1-2, 26-32, 43-47, 72-78:
# an "n" row, a Total column, percentages "out of non-missing data"
ACUPUNCTURE = "pmed.1001518_table1.json"
# transcribed from 10.1371/journal.pone.0046041 Table 2: three header rows (group, "n = 29", "n (%)")
TB_CHILDREN = "pone.0046041_table2.json"
# transcribed from 10.1371/journal.pntd.0001969 Table 2: a Total column, an n qualified by a footnote ("125 *")
STOOL = "pntd.0001969_table2.json"
# transcribed from 10.1371/journal.pone.0066742 Table 3: row percentages, no n for any column
EQ5D = "pone.0066742_table3.json"
# transcribed from 10.1371/journal.pone.0028031 Table 2, rows 1-8: spanning headers, β (95% CI) with a P column
BMD = "pone.0028031_table2.json"
# transcribed from 10.1371/journal.pone.0036880 Table 1: odds ratio, 95% CI, Wald and P in separate columns
BELIEF = "pone.0036880_table1.json"


def test_every_number_carries_its_place_header_path_and_what_its_label_says_it_is():
    reading = read_table(load(RITUXIMAB))
    age = next(x for x in reading.numbers if x["row"] == 2 and x["col"] == 2)
    assert age["text"] == "37.3 years (11.5)"
    assert (age["statistic"], age["value"], age["dispersion"], age["dispersion_type"]) == ("mean", "37.3", "11.5",
                                                                                           "sd")
    assert age["place"] == "Table 1, row 3, column 3"
    assert age["path"].endswith("/cell[3,3]") and age["path"].startswith("/article/")
    assert (age["measure"], age["group"]) == ("Age, mean (SD)", "Rituximab group › n = 15")
    women = next(x for x in reading.numbers if x["row"] == 3 and x["col"] == 3)
    assert (women["statistic"], women["k"], women["percent"]) == ("count", "9", "60")
    assert reading.columns[2].n == 15 and reading.columns[4].role == "p" and reading.columns[2].role == "group"


def test_two_groups_p_recomputed_from_the_ns_in_the_headers_and_named_by_table_row_and_column():
    found = checks(load(RITUXIMAB))
    age = on_row(found, "p_from_two_means", 3)
    assert [v["verdict"] for v in age] == ["consistent"]
    assert age[0]["detail"].startswith('Table 1, row 3 ("Age, mean (SD)"), columns 3 and 4 against column 5:')
    assert "n = 15" in age[0]["inputs"]["pairing"]
    women = on_row(found, "p_from_two_proportions", 4)
    assert [v["verdict"] for v in women] == ["consistent"] and "12 of 15" in women[0]["detail"]


def test_a_p_of_a_variable_of_several_categories_is_not_recomputed_from_one_of_them():
    found = checks(load(RITUXIMAB))  # rows 6-11: "Infection before CFS onset" Defined/Possible/No infection, one p
    assert not any(on_row(found, kind, row) for kind in ("p_from_two_proportions", "p_from_two_means")
                   for row in range(6, 12))


def test_multi_level_headers_give_the_column_its_n_and_a_real_misprinted_percentage_is_flagged():
    reading = read_table(load(TB_CHILDREN))
    latent = reading.columns[2]
    assert latent.headers == ["Latent TB", "n = 21", "n (%)"] and latent.n == 21
    found = table_checks(reading)
    flagged = on_row(found, "percent_of_count", 11)  # "≥15": 15 (71.5) of 21; 15/21 is 71.4%
    assert [v["verdict"] for v in flagged if "Latent TB" in v["detail"]] == ["inconsistent"]
    assert any(v["verdict"] == "consistent" for v in on_row(found, "percent_of_count", 5))  # 21 (72.4) of 29
    median = on_row(found, "estimate_in_interval", 4)  # "52(27–82)" under "(median and IQR)"
    assert median and all(v["verdict"] == "consistent" for v in median)


def test_counts_add_up_to_a_total_column_and_percentages_use_the_n_row_less_the_missing():
    found = checks(load(ACUPUNCTURE))
    total = on_row(found, "parts_vs_total", 73)  # Very ineffective: 10 + 6 + 1 = 17
    assert [v["verdict"] for v in total] == ["consistent"] and 'headed "Total"' in total[0]["inputs"]["pairing"]
    share = [v for v in on_row(found, "percent_of_count", 73) if "column 3 " in v["detail"]]
    assert share[0]["verdict"] == "consistent" and share[0]["inputs"]["n"] == "300"  # 302 less 2 missing (row 78)
    assert 'less the 2 of the row "Expectation acupuncture › Missing"' in share[0]["inputs"]["pairing"]


def test_abstains_where_the_section_holds_several_variables_and_the_missing_denominator_is_not_stated():
    found = checks(load(ACUPUNCTURE))
    for row in (27, 28, 29, 30):  # "Depression": three questions, each with its own Missing row
        verdicts = on_row(found, "percent_of_count", row)
        assert verdicts and {v["verdict"] for v in verdicts} == {"not_checkable"}, row


def test_an_n_qualified_by_a_footnote_is_not_a_denominator_and_a_total_the_parts_miss_is_flagged():
    found = checks(load(STOOL))
    infected = [v for v in on_row(found, "percent_of_count", 3) if "column 3 " in v["detail"]]
    assert infected[0]["verdict"] == "not_checkable" and "footnote" in infected[0]["detail"]
    assert [v["verdict"] for v in on_row(found, "parts_vs_total", 3)] == ["inconsistent"]  # 39 + 33 is not 75


def test_row_percentages_are_not_checked_as_shares_of_a_column():
    found = checks(load(EQ5D))  # each row's No / Some / Severe problems add up to 100%: shares of the row
    assert found and {v["verdict"] for v, _ in found} == {"not_checkable"}
    assert all("add up to 100% across its columns" in v["detail"] for v, _ in found)


def test_a_coefficient_with_its_ci_reproduces_the_p_beside_it_and_a_spanning_header_named_total_is_no_total():
    found = checks(load(BMD))
    p = on_row(found, "p_from_difference_ci", 3)
    assert [v["verdict"] for v in p] == ["consistent"] * 4 and "p = 0.063" in p[0]["detail"]
    assert not [v for v, _ in found if v["kind"] == "parts_vs_total"]  # "Total Hip BMD" is a site, not a total


def test_an_estimate_and_its_ci_in_two_columns_are_one_estimate_checked_against_the_p_column():
    found = checks(load(BELIEF))
    first = on_row(found, "p_from_ratio_ci", 2)  # Mentalizing: 1.41 (1.07–1.86), P .01
    assert [v["verdict"] for v in first] == ["consistent"] and "odds ratio 1.41 (95% CI 1.07 to 1.86)" in \
        first[0]["detail"]
    assert all(v["verdict"] == "consistent" for v in on_row(found, "estimate_in_interval", 2))
    # Rel. Attendance: 5.53 (4.24–7.20), Wald 160.36, printed "P = .0001" where the CI gives p near 10^-36: a floor
    # written with "=", which the check reports as not reproduced (no decision error)
    floor = on_row(found, "p_from_ratio_ci", 11)
    assert [v["verdict"] for v in floor] == ["inconsistent"] and floor[0]["decision_error"] is False


# --- SYNTHETIC tables -----------------------------------------------------------------------------------------------


def cell(row, col, text, headers=(), stub=None, header=False) -> dict:
    return {"row": row, "col": col, "rowspan": 1, "colspan": 1, "header": header, "text": text,
            "column_headers": list(headers), "row_headers": [stub] if stub else []}


def synthetic(rows: list[tuple[str, list[str]]], heads: list[str], caption: str = "", footnotes=()) -> dict:
    cells = [cell(0, c, h, header=True) for c, h in enumerate(["", *heads])]
    for r, (label, values) in enumerate(rows, start=1):
        cells.append(cell(r, 0, label))
        cells += [cell(r, c, v, [heads[c - 1]], label) for c, v in enumerate(values, start=1)]
    return {"label": "Table 9", "caption": caption, "footnotes": list(footnotes), "position": 8, "cells": cells,
            "path": "/article/body/table-wrap[9]"}


def test_synthetic_a_label_naming_two_formats_leaves_a_shape_both_explain_unread():
    table = synthetic([("Age", ["12 (34.5)", "13 (35.1)"])], ["A (n = 40)", "B (n = 41)"],
                      caption="Data are n (%) or mean (SD).")
    number = read_table(table).numbers[0]
    assert (number["statistic"], number["k"], number["percent"]) == ("value", None, None)
    assert checks(table) == []


def test_synthetic_percentages_of_a_row_adding_up_to_100_are_not_checked_against_the_column_n():
    table = synthetic([("Smokers", ["10 (20.0)", "25 (50.0)", "15 (30.0)"])],
                      ["A (n = 40)", "B (n = 41)", "C (n = 42)"], caption="Values are n (%).")
    found = checks(table)
    assert found and {v["verdict"] for v, _ in found} == {"not_checkable"}
    assert "add up to 100%" in found[0][0]["detail"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.floats(0, 1)), min_size=2, max_size=4),
       st.integers(0, 2), st.booleans())
def test_synthetic_a_consistent_table_is_never_called_inconsistent(groups, decimals, in_header):
    """percent = round(count / n * 100, d) in every group column, a Total column that adds them up, n stated in the
    headers or in an "n" row: every check is consistent (or consistent if truncated, never inconsistent)."""
    sizes = [n for n, _ in groups]
    counts = [round(n * share) for n, share in groups]
    pct = [f"{100 * k / n:.{decimals}f}" for k, n in zip(counts, sizes)]
    heads = [f"Arm {i} (n = {n})" if in_header else f"Arm {i}" for i, n in enumerate(sizes, start=1)]
    total_n = sum(sizes)
    heads.append(f"Total (n = {total_n})" if in_header else "Total")
    total_pct = f"{100 * sum(counts) / total_n:.{decimals}f}"
    rows = [] if in_header else [("n", [str(n) for n in sizes] + [str(total_n)])]
    rows.append(("Event, n (%)", [f"{k} ({p})" for k, p in zip(counts, pct)] + [f"{sum(counts)} ({total_pct})"]))
    found = checks(synthetic(rows, heads))
    kinds = {v["kind"] for v, _ in found}
    assert "percent_of_count" in kinds and "parts_vs_total" in kinds
    assert all(v["verdict"] != "inconsistent" for v, _ in found), [v["detail"] for v, _ in found]


@pytest.mark.parametrize("text, statistic, values", [
    ("45.2 ± 3.1", "mean", ("45.2", "3.1", None, None)),
    ("1.25 (0.98–1.60)", "ratio", ("1.25", None, "0.98", "1.60")),
    ("<0.001", "p", ("<0.001", None, None, None)),
    ("12/45 (26.7)", "count", ("12", None, None, None)),
])
def test_synthetic_cell_shapes(text, statistic, values):
    heads = ["OR (95% CI)" if statistic == "ratio" else "P" if statistic == "p" else "Drug (n = 45)"]
    number = read_table(synthetic([("Outcome", [text])], heads)).numbers[0]
    assert number["statistic"] == statistic
    assert (number["value"], number["dispersion"], number["lower"], number["upper"]) == values


# --- derive: tables as the store holds them (article_tables, table_cells) ---------------------------------------------


def test_derive_stores_table_numbers_as_results_with_their_cell_and_checks_that_use_them(tmp_path):
    """The rituximab table (transcribed above) stored as the JATS store lays it out, then `kb.derive.rederive`."""
    from kb.derive import rederive
    from kb.store.schema import open_db

    db = open_db(str(tmp_path / "kb.db"))
    aid, table = "doi:10.1371/journal.pone.0026358", load(RITUXIMAB)
    db["articles"].insert({"article_id": aid, "abstract": ""})
    db["article_tables"].insert({"id": f"{aid}/table/0", "article_id": aid, "label": table["label"],
                                 "caption": table["caption"], "footnotes": json.dumps(table["footnotes"]),
                                 "position": table["position"], "path": table["path"], "snapshot_id": None})
    db["table_cells"].insert_all({**{k: c[k] for k in ("row", "col", "rowspan", "colspan", "text")},
                                  "table_id": f"{aid}/table/0", "header": int(c["header"]),
                                  "column_headers": json.dumps(c["column_headers"]),
                                  "row_headers": json.dumps(c["row_headers"]), "value_num": None, "decimals": None}
                                 for c in table["cells"])
    rederive(db, article_ids=[aid])
    results = {r["id"]: r for r in db["results"].rows_where("subject = ? and kind = 'table'", [aid])}
    age = next(r for r in results.values() if r["source_text"] == "Table 1, row 3, column 3: 37.3 years (11.5)")
    assert (age["statistic"], age["value"], age["dispersion"], age["measure"]) == ("mean", "37.3", "11.5",
                                                                                   "Age, mean (SD)")
    assert age["path"].endswith("/cell[3,3]")
    check = next(r for r in db["checks"].rows_where("subject = ? and kind = 'p_from_two_means'", [aid]))
    assert check["verdict"] == "consistent" and check["detail"].startswith("Table 1, row 3")
    assert age["id"] in json.loads(check["uses"]) and set(json.loads(check["uses"])) <= set(results)
    rederive(db, article_ids=[aid])  # idempotent: the same rows, not twice as many
    assert db["results"].count_where("subject = ? and kind = 'table'", [aid]) == len(results)


def _parsed_tables(name: str) -> list[dict]:
    """The tables of a real JATS fixture as the harvest parser reads them (what `kb import` stores)."""
    from harvest.fulltext import jats

    body = (Path(__file__).parent / "fixtures" / "jats" / name).read_bytes()
    return jats.tables(jats.article_element(body, "test", name), lambda e: e.getroottree().getpath(e), "test", name)


def test_a_row_of_the_harvest_parser_keeps_its_own_label_under_a_section_label():
    """PMC1131903 (evidence-inference fixture), Table 4 as the JATS parser reads it: the rows under its label row
    "Mean scores:" keep their own stub text at the end of their label path, so a row's own label decides its
    format before the section's."""
    tables = _parsed_tables("PMC1131903_stethoscope_rct_evidence_inference.nxml")
    [table] = [t for t in tables if t["label"] == "Table 4"]
    reading = read_table(table)
    stubs = {c["row"]: c["text"] for c in table["cells"] if c["col"] == 0 and not c["header"]}
    under = [n for n in reading.numbers if reading.rows[n["row"]].section == "Mean scores:"]
    assert under
    for number in under:
        assert number["measure"] == f"Mean scores: › {stubs[number['row']]}"


def test_a_cell_under_a_label_naming_two_categories_is_not_a_count_of_a_total():
    """PMC111193 Table 1 prints "Sex, F/M" as 4/10 and 5/9: two counts, not 4 of 10; no check reads them as k of n."""
    reading = read_table(_parsed_tables("PMC111193_anh_hea_rct_evidence_inference.nxml")[0])
    sex = [n for n in reading.numbers if n["measure"] and "F/M" in n["measure"]]
    assert sex and {n["statistic"] for n in sex} == {"p"}  # only the row's P is read
    assert all("F/M" not in verdict["detail"] for verdict, _ in table_checks(reading))
    assert read_table({"label": "Table 9", "caption": None, "footnotes": [], "position": 0, "path": "t", "cells": [
        {"row": 0, "col": 0, "rowspan": 1, "colspan": 1, "header": True, "column_headers": [], "row_headers": [],
         "text": ""},
        {"row": 0, "col": 1, "rowspan": 1, "colspan": 1, "header": True, "column_headers": [], "row_headers": [],
         "text": "Responders, n/N (%)"},
        {"row": 1, "col": 0, "rowspan": 1, "colspan": 1, "header": False, "column_headers": [""],
         "row_headers": [], "text": "Week 12"},
        {"row": 1, "col": 1, "rowspan": 1, "colspan": 1, "header": False, "column_headers": ["Responders, n/N (%)"],
         "row_headers": ["Week 12"], "text": "12/40 (30.0)"}]}).numbers[0]["statistic"] == "count"  # n/N is k of n
