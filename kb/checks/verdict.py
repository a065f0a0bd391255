"""The result of a check: a `Verdict` dict, the shape every check returns and the `checks` table stores."""

from __future__ import annotations

from typing import Any, TypedDict

from kb.numbers import Reported

from .pvalues import decision_error

CONSISTENT, INCONSISTENT, NOT_CHECKABLE = "consistent", "inconsistent", "not_checkable"
# a rounded value (percentage, mean) that no whole count gives when rounded, but one gives when truncated
CONSISTENT_IF_TRUNCATED = "consistent_if_truncated"


class Verdict(TypedDict):
    """kind: which check; verdict: consistent / inconsistent / not_checkable, or consistent_if_truncated (a granularity
    check reproduced only if the author truncated instead of rounding); inputs: the reported texts used;
    reported: the text checked; recomputed: method → [lo, hi]; methods_fit: methods whose range meets the reported
    interval; decision_error: for p checks, True when reported and recomputed p lie on opposite sides of 0.05
    (None when not recomputed, and for checks that are not p checks); detail: one plain sentence."""

    kind: str
    verdict: str
    inputs: dict[str, Any]
    reported: str
    recomputed: dict[str, list[float]]
    methods_fit: list[str]
    decision_error: bool | None
    detail: str


def make_verdict(kind: str, inputs: dict[str, Any], reported: str, recomputed: dict[str, list[float]],
                 methods_fit: list[str], detail: str, *, verdict: str | None = None,
                 decision_error: bool | None = None) -> Verdict:
    """Assemble a Verdict; without an explicit `verdict`, it is consistent exactly when some method fits."""
    return Verdict(kind=kind, verdict=verdict or (CONSISTENT if methods_fit else INCONSISTENT), inputs=inputs,
                   reported=reported, recomputed={k: [float(v[0]), float(v[1])] for k, v in recomputed.items()},
                   methods_fit=list(methods_fit), decision_error=decision_error, detail=detail)


def p_verdict(kind: str, inputs: dict[str, Any], p: Reported, candidates: dict[str, list[float]],
              fit: list[str], detail: str, extra: dict[str, list[float]] | None = None,
              judged: list[str] | None = None) -> Verdict:
    """A p check: `fit` lists the candidate methods whose range `p` meets (see `fits`). The decision error is
    judged against the candidates named in `judged` (default: all of them); `extra` ranges, such as a rank test's
    smallest p, are recorded but never fit and never judged."""
    ranges = [candidates[k] for k in (candidates if judged is None else judged)]
    flipped = bool(not fit and decision_error(p, ranges))
    if flipped:
        detail = f"{detail.removesuffix('.')}; this is a decision error, since the recomputed p lies on the other " \
                 "side of 0.05."
    return make_verdict(kind, inputs, p.text, {**candidates, **(extra or {})}, fit, detail, decision_error=flipped)


def fits(reported: Reported, candidates: dict[str, list[float]]) -> list[str]:
    """The candidate methods whose recomputed range meets the reported interval."""
    return [method for method, (lo, hi) in candidates.items() if reported.meets(lo, hi)]


def not_checkable(kind: str, inputs: dict[str, Any], reported: str, detail: str,
                  recomputed: dict[str, list[float]] | None = None) -> Verdict:
    """A check whose inputs are missing or unusable; `recomputed` keeps whatever could still be computed."""
    return make_verdict(kind, inputs, reported, recomputed or {}, [], detail, verdict=NOT_CHECKABLE)


def missing(named: dict[str, Reported]) -> str:
    """ 'the SD ("NA") is not a number' or 'n ("") and p ("") are not numbers'; empty when all are numbers."""
    names = [f'{name} ("{r.text}")' for name, r in named.items() if not r.known]
    if not names:
        return ""
    return f"{' and '.join(names)} {'is not a number' if len(names) == 1 else 'are not numbers'}"
