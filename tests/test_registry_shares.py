"""An article's group-level percentages against its linked registry record's arm sizes and adverse-event counts.

The registry side is the real recorded NCT00791778 (sorafenib vs placebo; hand-foot skin reaction in 81 of 123 and
17 of 123, serious in 3 of 123 and 0 of 123; 123 started each arm). The article side is a SYNTHETIC abstract written
for this test (no recorded publication of this trial may be used: it is reserved for independent evaluation)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.store.schema import open_db

from .conftest import fixture_path

STUDY = fixture_path("ctgov", "v2_study_NCT00791778_sorafenib_ovarian_with_results_biomcp.json")
ARTICLE = "doi:10.5555/registry-shares"


@pytest.fixture
def checked(tmp_path):
    def run(abstract: str) -> list[dict]:
        db_path = tmp_path / "kb.db"
        assert CliRunner().invoke(cli, ["import", str(STUDY), "--db", str(db_path), "--no-derive"]).exit_code == 0
        db = open_db(str(db_path))
        with db.atomic():
            db["articles"].upsert({"article_id": ARTICLE, "abstract": abstract}, pk="article_id")
            db["article_trials"].upsert({"article_id": ARTICLE, "nct_id": "NCT00791778", "evidence": "test"},
                                        pk=("article_id", "nct_id", "evidence"))
        assert CliRunner().invoke(cli, ["check", "--db", str(db_path)]).exit_code == 0
        return list(db["checks"].rows_where("kind = 'registry_percent'", order_by="id"))
    return run


def test_adverse_event_shares_are_checked_against_the_registry_counts_of_that_event_and_arm(checked):
    found = checked("Hand-foot skin reaction occurred in 66% in the sorafenib group and 14% in the placebo group.")
    assert [c["verdict"] for c in found] == ["consistent", "consistent"]
    pairing = json.loads(found[0]["inputs"])["pairing"]
    assert '"Hand-foot skin reaction" (other)' in pairing and "81 of 123" in pairing
    assert "adverseEventsModule" in pairing


def test_an_adverse_event_share_no_registry_count_gives_is_not_checkable_when_the_registry_has_several(checked):
    found = checked("Hand-foot skin reaction occurred in 70% in the sorafenib group.")
    assert [c["verdict"] for c in found] == ["not_checkable"]
    assert "81 of 123 (other)" in found[0]["detail"] and "3 of 123 (serious)" in found[0]["detail"]


def test_an_arm_share_is_checked_against_the_registry_arm_size_and_abstains_when_none_fits(checked):
    found = checked("Dose reductions were needed in 44% in the sorafenib group. Treatment was interrupted in 1.11% in "
                    "the placebo group.")
    assert [c["verdict"] for c in found] == ["consistent", "not_checkable"]
    assert "STARTED 123" in json.loads(found[0]["inputs"])["pairing"]
    assert "another population" in found[1]["detail"]


def test_an_adverse_event_share_that_differs_from_the_one_registry_count_is_inconsistent(checked):
    found = checked("Fatigue was reported by 1.11% in the placebo group.")
    assert [c["verdict"] for c in found] == ["inconsistent"]
    assert "Fatigue" in json.loads(found[0]["inputs"])["pairing"]


def test_a_share_of_a_group_the_registry_does_not_name_is_not_compared(checked):
    assert checked("Hand-foot skin reaction occurred in 70% in the control group.") == []
