"""The public checks in one place: each is a pure function of reported texts that returns a `Verdict` dict."""

from .apa import ApaStatistic, check_apa, check_apa_text, find_apa
from .change import relative_change
from .counts import grim_mean, parts_sum_to_total, percent_of_count, percentages_sum_to_100
from .intervals import Reported
from .means import p_one_sample, p_paired, p_two_groups, rank_sum_floor, signed_rank_floor
from .ratios import p_from_difference_ci, p_from_ratio_ci
from .verdict import CONSISTENT, INCONSISTENT, NOT_CHECKABLE, Verdict

__all__ = [
    "ApaStatistic", "CONSISTENT", "INCONSISTENT", "NOT_CHECKABLE", "Reported", "Verdict", "check_apa",
    "check_apa_text", "find_apa", "grim_mean", "p_from_difference_ci", "p_from_ratio_ci", "p_one_sample", "p_paired",
    "p_two_groups", "parts_sum_to_total", "percent_of_count", "percentages_sum_to_100", "rank_sum_floor",
    "relative_change", "signed_rank_floor",
]
