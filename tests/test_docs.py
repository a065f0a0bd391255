"""The README stays true to the code (as sqlite-utils' tests/test_docs.py does for its CLI): commands, check kinds,
sources. And every check kind registered in `kb.checks.KINDS` is produced by what its entry says produces it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harvest import sources
from kb.checks import KINDS
from kb.cli import cli
from kb.store.schema import open_db

from .conftest import SEED_FILES, fixture_path

README = (Path(__file__).parent.parent / "README.md").read_text()
SOURCES_DOC = (Path(__file__).parent.parent / "docs" / "sources.md").read_text()


def section(title: str) -> str:
    """The README text under `## title`, up to the next heading of the same level."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def commands(group: click.Group, prefix: str = "kb") -> dict[str, click.Command]:
    """Every command and subcommand by its full name ("kb check stats")."""
    found = {}
    for name, command in group.commands.items():
        found[f"{prefix} {name}"] = command
        if isinstance(command, click.Group):
            found.update(commands(command, f"{prefix} {name}"))
    return found


def documented_commands() -> set[str]:
    """Every command name the README's commands table shows, alternatives expanded ("kb extract regimen\\|stats")."""
    names = set()
    for row in section("Commands").splitlines():
        if not row.startswith("| `kb"):
            continue
        words = row.split("`")[1].split()
        expanded = [[]]
        for word in words:
            if word.startswith(("[", "-")) or word.isupper() or word.startswith(("TEXT", "PATH")):
                break
            expanded = [done + [choice] for done in expanded for choice in word.split("\\|")]
        names |= {" ".join(done[:i]) for done in expanded for i in range(2, len(done) + 1)}
    return names


@pytest.mark.parametrize("name", sorted(commands(cli)))
def test_every_command_has_help_with_an_example_and_a_row_in_the_readme(name):
    result = CliRunner().invoke(cli, name.split()[1:] + ["--help"])
    assert result.exit_code == 0 and re.search(r"Example:.*?\bkb ", result.output, re.S), result.output
    assert name in documented_commands(), f"{name} is not in the README's commands table"


def kinds_table() -> list[str]:
    """The rows of the README's table of check kinds (the table headed "| kind | what it checks |")."""
    lines = section("Checks").splitlines()
    start = lines.index("| kind | what it checks |") + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def kinds_in_readme() -> set[str]:
    return {kind for line in kinds_table() for kind in re.findall(r"`([a-z_]+)`", line.split("|")[1])}


def test_every_check_kind_is_documented_and_every_documented_kind_exists():
    assert kinds_in_readme() == set(KINDS)


def test_every_kind_produced_only_by_kb_check_stats_is_marked_so():
    marked = {kind for line in kinds_table() for kind in re.findall(r"`([a-z_]+)` \(\*stats\*\)", line)}
    assert marked == {kind for kind, spec in KINDS.items() if spec.produced_by == "kb check stats"}


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    """A KB derived from every recorded registry study of the fixtures, the seed article (RECONSTRUCTED responses)
    linked to a STAND-IN registry record (the real recorded NCT03418623 relabelled NCT02193698, as in
    test_derive_checks), a real JATS article (its abstract and full text), and the real abstracts of `ABSTRACTS` stored
    as articles linked to the real NCT00791778."""
    folder = tmp_path_factory.mktemp("kinds")
    doc = json.loads(fixture_path("ctgov", "v2_study_NCT03418623_aact.json").read_text())
    doc["protocolSection"]["identificationModule"]["nctId"] = "NCT02193698"
    (folder / "stand_in.json").write_text(json.dumps(doc))
    studies = [p for p in fixture_path("ctgov").glob("v2_*.json") if "search" not in p.name]
    full_text = fixture_path("jats", "PMC1190172_signature_survey_rct_evidence_inference.nxml")  # real JATS
    result = CliRunner().invoke(cli, ["import", *map(str, studies), str(folder / "stand_in.json"),
                                      *map(str, SEED_FILES), str(full_text), "--db", str(folder / "kb.db")])
    assert result.exit_code == 0, result.output
    db = open_db(str(folder / "kb.db"))
    with db.atomic():
        for i, abstract in enumerate(ABSTRACTS):
            db["articles"].insert({"article_id": f"doi:10.5555/kinds-{i}", "abstract": abstract})
            db["article_trials"].insert({"article_id": f"doi:10.5555/kinds-{i}", "nct_id": "NCT00791778",
                                         "evidence": "test"})
    assert CliRunner().invoke(cli, ["check", "--db", str(folder / "kb.db")]).exit_code == 0
    return db


# Sentences of real abstracts of the audit corpus (benchmarks/audit_corpus, PubMedQA; PMID given), and SYNTHETIC
# sentences written for this test where no real one reaches a path of derive: an APA test statistic (none in the
# corpus), a before/after pair with its p, a median that NCT00791778's registry results report too (386 days), and an
# adverse event of one of its arms (81 of 123).
ABSTRACTS = [
    # PMID 14978612: counts with their percentages of a stated n
    "In 8 of 46 cases (17 percent), management was altered because of the position emission tomography scan "
    "findings, including 6 cases (13 percent) in which surgery was cancelled.",
    # PMID 21880023: two groups' shares with counts and denominators, and a p
    "RESULTS: Fourteen of 379 (3.7%) women in the intervention group and 17 of 340 (5.0%) in the control group had "
    "an EPDS score of ≥10 (p=0.46).",
    # PMID 24809662: two groups' means compared with a p (each group's n not stated)
    "Our primary outcome, OAB-q SS change score, showed no significant differences between cohorts (30 ± 26 "
    "MUS-only vs 25 ± 25 MUS + AA, p = 0.20), indicating similar improvements in OAB symptoms.",
    # PMID 25982163: odds ratios with their confidence intervals
    "After multivariate analysis, age ≥55 years was the only predictor for perforation [odds ratio (OR) = 3.65; 95% "
    "confidence interval (CI), 1.54-8.68].",
    # SYNTHETIC
    "The effect was significant, t(28) = 2.20, p = .03.",
    "The mean HbA1c decreased from 8.1 ± 1.2% to 7.2 ± 1.0% (p < 0.001) in 40 patients.",
    "Median progression-free survival was 12.7 months with sorafenib.",
    "Hand-foot skin reaction occurred in 66% in the sorafenib group.",
]


def test_every_kind_derive_produces_is_registered_and_every_registered_derive_kind_is_produced(derived):
    produced = {kind for (kind,) in derived.execute("select distinct kind from checks")}
    assert produced <= set(KINDS), f"produced but not registered: {produced - set(KINDS)}"
    expected = {kind for kind, spec in KINDS.items() if spec.produced_by == "derive"}
    assert expected <= produced, f"registered but never produced by derive: {expected - produced}"


@pytest.mark.parametrize("kind", sorted(k for k, spec in KINDS.items() if spec.produced_by == "kb check stats"))
def test_every_kind_of_kb_check_stats_is_produced_by_it(kind):
    args = {"p_from_two_means": ["--mean", "5.1", "--sd", "1.2", "--n", "20", "--mean2", "6.3", "--sd2", "1.4",
                                 "--n2", "22", "--p", "0.005"],
            "grim_mean": ["--grim-mean", "3.47", "--n", "15"],
            "percentages_sum": ["--percents", "33.3, 33.3, 33.3"]}[kind]
    result = CliRunner().invoke(cli, ["check", "stats", *args, "--json"])
    assert result.exit_code == 0 and [v["kind"] for v in json.loads(result.output)] == [kind]


def test_every_registered_source_is_in_the_readme_with_its_base_url_variable():
    listed = section("Sources")
    for source in sources.ALL:
        if source is sources.REGISTRY_SOURCES[1]:  # the unofficial history view, documented in docs/refresh.md
            continue
        assert re.search(rf"^\| {re.escape(source.name.split(' WebAPI')[0])}\b", listed, re.M), source.name
        assert f"`{source.env}`" in README, source.env
    for source in sources.ARTICLE_SOURCES:
        assert source.name.split(" WebAPI")[0] in SOURCES_DOC
