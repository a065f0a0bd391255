"""Cross-checks: recompute reported statistics from the other reported numbers, with no database and no network.

Every reported number is an interval given by its rounding (`intervals.Reported`); a check recomputes the target
under each method that could have produced it and returns a `verdict.Verdict` dict: `consistent` when the reported
interval meets the recomputed range of at least one plausible method, `inconsistent` when it meets none,
`not_checkable` when inputs are missing, with one plain sentence saying why. `recompute` lists the public checks:
p-values from means and SDs or SEs (`means`), from ratios or differences and their confidence intervals (`ratios`),
from APA-style test statistics (`apa`); percentages against counts, GRIM for means, parts against totals
(`counts`); and a relative change against group means (`change`). scipy.stats computes every distribution.
"""
