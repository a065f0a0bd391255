"""One quantity reported twice in an article (in the abstract and in the full text): the two must agree."""

from __future__ import annotations

from kb.checks.verdict import Verdict, make_verdict, missing, not_checkable
from kb.numbers import Reported

KIND = "abstract_vs_fulltext"


def reported_twice(quantity: str, what: str, in_abstract: str, in_full_text: str, where: str) -> Verdict:
    """`what` (a p, a percentage) of `quantity` (the estimate and interval, or the count of n, that identify it), as
    the abstract and the full text (at `where`) write it: consistent when some value lies within both roundings."""
    domain = (0.0, 1.0) if what == "p" else (0.0, 100.0)
    first, second = Reported.parse(in_abstract, domain=domain), Reported.parse(in_full_text, domain=domain)
    inputs = {"quantity": quantity, "abstract": first.text, "full text": second.text, "where": where}
    if gap := missing({f"the abstract's {what}": first, f"the full text's {what}": second}):
        return not_checkable(KIND, inputs, second.text, f"Cannot compare the two {what}s of {quantity}: {gap}.")
    agree = max(first.lo, second.lo) < min(first.hi, second.hi)  # a value that both roundings give
    name = "p" if what == "p" else ""
    said = (f"{first.phrase(name)}{'%' * (not name)} in the abstract and {second.phrase(name)}{'%' * (not name)} in "
            f"the full text ({where})")
    detail = (f"The same {quantity} is reported with {said}: these agree within their rounding." if agree else
              f"The same {quantity} is reported with {said}: no value rounds to both.")
    return make_verdict(KIND, inputs, second.text, {"abstract": [first.lo, first.hi]}, ["abstract"] if agree else [],
                        detail)
