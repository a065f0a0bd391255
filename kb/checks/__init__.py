"""Checks: recompute reported statistics from the other reported numbers, with no database and no network.

Every reported number is an interval given by its rounding (`kb.numbers.Reported`); a check recomputes the target
under each method that could have produced it and returns a `verdict.Verdict` dict: `consistent` when the reported
interval meets the recomputed range of at least one plausible method, `inconsistent` when it meets none,
`not_checkable` when inputs are missing, with one plain sentence saying why. The modules: p-values from means and
SDs or SEs (`means`), from ratios or differences and their confidence intervals (`ratios`), from APA-style test
statistics (`apa`); percentages against counts, GRIM for means, parts against totals (`counts`); p of two
proportions from their counts or percentages (`proportions`); a relative change against group means (`change`).
scipy.stats computes every distribution.

`KINDS` is the one list of check kinds: every `checks.kind` value the KB can hold, what it checks, and what produces
it (`derive`: the checks computed for every trial and article; `kb check stats`: only on numbers a user gives).
Registry-versus-article comparisons are made in `kb.derive` and registered here too. A test fails when a kind is
listed and never produced, produced and not listed, or not documented in README.
"""

from dataclasses import dataclass

from .apa import ApaStatistic, check_apa, check_apa_text, find_apa
from .bounds import estimate_in_interval
from .change import relative_change
from .counts import grim_mean, parts_sum_to_total, percent_of_count, percentages_sum_to_100
from .means import p_one_sample, p_paired, p_two_groups, rank_sum_floor, signed_rank_floor
from .proportions import p_two_proportions, p_two_proportions_from_percents
from .ratios import p_from_difference_ci, p_from_ratio_ci
from .verdict import CONSISTENT, CONSISTENT_IF_TRUNCATED, INCONSISTENT, NOT_CHECKABLE, Verdict


@dataclass(frozen=True)
class Kind:
    """What a check kind compares, in a few words, and what produces it (`derive` or `kb check stats`)."""

    checks: str
    produced_by: str = "derive"


KINDS = {
    "p_from_mean_sd": Kind("p of a mean ± SD/SE with n, one-sample t-test"),
    "p_from_paired_means": Kind("p of a before/after pair, paired t-test over every correlation"),
    "p_from_two_means": Kind("p of two independent groups' means, Student and Welch t-tests"),
    "estimate_in_interval": Kind("a point estimate against its own CI, range or IQR"),
    "p_from_two_proportions": Kind("p of two independent proportions (counts or percentages), chi-square with and "
                                   "without Yates' correction and Fisher's exact test"),
    "p_from_ratio_ci": Kind("p of a hazard/odds/risk ratio from its CI (log scale)"),
    "p_from_difference_ci": Kind("p of a difference from its CI"),
    "p_from_apa_statistic": Kind("p of a reported test statistic (t, F, r, χ², z), as statcheck does"),
    "percent_of_count": Kind("a percentage against whole counts of its n (GRIM-style)"),
    "grim_mean": Kind("a mean of whole-number values against its n (GRIM)", "kb check stats"),
    "percentages_sum": Kind("percentages of the categories of one whole adding up to 100%", "kb check stats"),
    "parts_vs_total": Kind("subgroup sizes against their total"),
    "relative_change": Kind("a reported mean change against the change of the means (informational)"),
    "registration_timing": Kind("registration before or after the study start"),
    "enrollment": Kind("the article's n against the registry's enrollment"),
    "enrollment_period": Kind("the article's enrollment period against the registry's dates"),
    "endpoint_reported": Kind("a registered endpoint reported as registered, or changed"),
    "endpoint_unreported": Kind("a registered endpoint the article does not report"),
    "endpoint_added": Kind("an article endpoint never registered"),
    "regimen": Kind("the article's drugs and doses against the registry's interventions"),
    "results_posted": Kind("whether the registry has results to compare"),
    "shared_number": Kind("a number both the registry and the article report"),
    "abstract_vs_fulltext": Kind("a p or a percentage the abstract and a Results section both give for the same "
                                 "estimate and interval, or the same count of n"),
    "registry_percent": Kind("an article's group-level percentage against the registry's arm size or event count"),
}

__all__ = [
    "ApaStatistic", "CONSISTENT", "CONSISTENT_IF_TRUNCATED", "INCONSISTENT", "KINDS", "Kind", "NOT_CHECKABLE",
    "Verdict", "check_apa", "check_apa_text", "estimate_in_interval", "find_apa", "grim_mean", "p_from_difference_ci",
    "p_from_ratio_ci", "p_one_sample", "p_paired", "p_two_groups", "p_two_proportions",
    "p_two_proportions_from_percents", "parts_sum_to_total", "percent_of_count", "percentages_sum_to_100",
    "rank_sum_floor", "relative_change", "signed_rank_floor",
]
