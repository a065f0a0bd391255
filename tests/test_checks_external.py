"""Agreement with independent implementations on their own cases (cases and sources: benchmarks/external_agreement.py).

statcheck 0.0.7 (installed from PyPI) recomputes p from the same APA sentences through its own extraction and
processing; GRIM verdicts come from the GRIM paper's worked example and the scrutiny R package's tests.
"""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "external_agreement.py"
_SPEC = importlib.util.spec_from_file_location("external_agreement", _PATH)
external = sys.modules[_SPEC.name] = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(external)

APA = external.apa_cases()
GRIM = external.grim_cases()
KNOWN = external.known_differences()  # explained in the module docstring of benchmarks/external_agreement.py
STATCHECK_NS_BUG = "t(28) = 2.20, ns"


@pytest.mark.parametrize("case", APA, ids=[c.text.strip() for c in APA])
def test_statcheck_agrees(case):
    result = external.compare(case)
    assert result["p_inside"], result  # statcheck's computed p lies inside our recomputed range
    if case.text in KNOWN:
        assert not result["agree"]
        return
    assert result["agree"], result
    if case.error is not None:
        assert result["ours"]["error"] == case.error
    if case.decision_error is not None:
        assert result["ours"]["decision_error"] == case.decision_error


def test_statcheck_reads_ns_as_a_missing_p_so_misses_the_decision_error():
    result = external.compare(next(c for c in APA if c.text == STATCHECK_NS_BUG))
    assert result["statcheck"]["error"] and result["ours"]["error"]
    assert result["statcheck"]["decision_error"] is False  # its reported p is NaN for "ns"
    assert result["ours"]["decision_error"] is True  # "ns" says p > .05; the recomputed p is 0.036


def test_bound_written_with_sixteen_digits_sits_inside_the_recomputed_range():
    case = next(c for c in APA if c.text in KNOWN - {STATCHECK_NS_BUG})
    result = external.compare(case)
    bound = float(case.text.rsplit(" ", 1)[1])
    assert 0 < result["ours"]["recomputed"]["two-tailed"][1] - bound < 1e-15


def test_statcheck_default_pzeroerror_is_the_one_convention_we_do_not_share():
    from kb.checks.apa import check_apa_text
    assert check_apa_text("t(28) = 22.20, p = .000")[0]["verdict"] == "consistent"  # p = .000 means p < .0005


@pytest.mark.parametrize("case", GRIM, ids=[f"{c.value}/{c.n}x{c.items}{'%' if c.percent else ''}" for c in GRIM])
def test_published_grim_verdicts(case):
    assert external.grim_verdict(case) == case.consistent, case.source


def test_agreement_rates(capsys):
    external.main()
    out = capsys.readouterr().out
    assert f"statcheck 0.0.7 vs kb.checks.apa: {len(APA) - 2}/{len(APA)} cases agree" in out
    assert f"GRIM, published verdicts vs kb.checks.counts: {len(GRIM)}/{len(GRIM)} agree" in out
