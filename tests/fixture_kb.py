"""The fixtures KB that the Datasette and browser tests serve.

Recorded responses, through `kb import` (which also extracts and checks, as `kb build` does):
- a real ClinicalTrials.gov study with results (NCT00791778);
- the reconstructed seed article files (PMID 32009091, kb/data/offline);
- a MODIFIED copy of that study (a later version made here, see `later_version`), so that `trial_versions` has a
  change to show.

SYNTHETIC ROWS (`SYNTHETIC_ROWS`) are not recorded responses: they are database rows for what the recorded data do
not contain, so that every canned query and chart has something to show: an article of NCT00791778 whose endpoints
match, switch kind or were added, its drug schedule, and a check that is a decision error. They are all about
SYNTHETIC_ARTICLE, a DOI under Crossref's test prefix 10.5555 that no real article has.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner

from kb.cli import cli
from kb.derive.endpoint_comparison import refresh_endpoint_comparison
from kb.store.schema import open_db

from .conftest import SEED_FILES, fixture_path

NCT = "NCT00791778"
STUDY = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
SEED_ARTICLE = "pmid:32009091"
SYNTHETIC_ARTICLE = "doi:10.5555/trial-kb-synthetic"
# Markup a harvested text could hold: it must reach the page as text, never as HTML.
MARKUP = "<script>window.__pwned=1</script> and <b>bold</b>"
MARKUP_ARTICLE = "doi:10.5555/trial-kb-markup"

SYNTHETIC_ROWS = {
    "article_trials": [{"article_id": SYNTHETIC_ARTICLE, "nct_id": NCT, "evidence": "synthetic test row"}],
    "endpoints": [
        {"id": f"{SYNTHETIC_ARTICLE}/endpoint/{i}", "subject": SYNTHETIC_ARTICLE, "source": "publication",
         "kind": kind, "position": i, "measure": measure, "source_text": sentence,
         "matched_to": f"{NCT}/registry/protocolSection.outcomesModule.{registry}" if registry else None}
        for i, (kind, measure, registry, sentence) in enumerate([
            ("primary", "progression-free survival", "primaryOutcomes[0]",
             "The primary endpoint was progression-free survival."),
            ("primary", "time to pathologic CA-125", "secondaryOutcomes[0]",
             "Co-primary endpoint was time to pathologic CA-125."),
            ("secondary", "health-related quality of life", None,
             "Secondary endpoints included health-related quality of life."),
        ])
    ],
    "regimen": [
        {"id": f"{SYNTHETIC_ARTICLE}/regimen/0", "subject": SYNTHETIC_ARTICLE, "source": "publication",
         "drug": "sorafenib", "dose": "400", "dose_num": 400, "unit": "mg", "route": "oral", "frequency": "twice daily",
         "source_text": "Patients received sorafenib 400 mg orally twice daily."},
    ],
    "checks": [
        {"id": f"{SYNTHETIC_ARTICLE}/p_from_ratio_ci/1", "subject": SYNTHETIC_ARTICLE, "kind": "p_from_ratio_ci",
         "reported": "0.03", "verdict": "inconsistent", "decision_error": 1,
         "detail": "Reported p = 0.03 is not reproduced: the hazard ratio 1.09 (95% CI 0.72 to 1.63) implies "
                   "two-sided p between 0.66 and 0.70 (one-sided p between 0.33 and 0.35); this is a decision error, "
                   "since the recomputed p lies on the other side of 0.05."},
    ],
}


def later_version(folder: Path) -> Path:
    """A MODIFIED copy of the recorded study, written by the test into `folder`: the same record with a new
    verification date and last-update date (2030, so that it cannot be mistaken for a real version)."""
    study = json.loads(STUDY.read_bytes())
    status = study["protocolSection"]["statusModule"]
    status["statusVerifiedDate"] = "2030-01"
    status["lastUpdatePostDateStruct"]["date"] = "2030-01-15"
    path = folder / f"{NCT}_modified_later_version.json"
    path.write_text(json.dumps(study))
    return path


def add_synthetic_rows(db) -> None:
    """Insert SYNTHETIC_ROWS (see the module docstring), and recompute the rows computed from them, as derive does
    after writing its own (endpoint_comparison)."""
    with db.atomic():
        for table, rows in SYNTHETIC_ROWS.items():
            db[table].insert_all(rows)
        refresh_endpoint_comparison(db)


def add_markup_article(db) -> None:
    """An article whose title, abstract and before/after measure hold MARKUP, as a harvested text could."""
    with db.atomic():
        db["articles"].insert({"article_id": MARKUP_ARTICLE, "doi": MARKUP_ARTICLE.removeprefix("doi:"),
                               "title": f"Markup test {MARKUP}", "abstract": f"Results: {MARKUP} markupword"})
        db["results"].insert_all(
            {"id": f"{MARKUP_ARTICLE}/{role}", "subject": MARKUP_ARTICLE, "source": "publication", "measure": MARKUP,
             "value": value, "value_num": float(value), "role": role, "pair": 1}
            for role, value in (("before", "1"), ("after", "2")))


def kb_import(db_path: Path, *paths: Path) -> None:
    result = CliRunner().invoke(cli, ["import", *map(str, paths), "--db", str(db_path)])
    assert result.exit_code == 0, result.output


def build(path: Path) -> Path:
    kb_import(path, STUDY, *SEED_FILES)
    kb_import(path, later_version(path.parent))
    with open_db(str(path)) as db:
        add_synthetic_rows(db)
    return path


def copy_kb(source: Path, target: Path) -> Path:
    """A consistent copy of the KB at `source` (what its write-ahead log holds included)."""
    with closing(sqlite3.connect(source)) as reader, closing(sqlite3.connect(target)) as writer:
        reader.backup(writer)
    return target
