"""Measuring what a failing serving callable computes (contract v3, serving), from the answer the
check compared, the expected one and the call's inputs, with no further call of the implementation:
- base: the lse is one constant times the natural one wherever that is finite; 1/ln 2 says base 2;
- unseen queries: NaN exactly in the outputs of the queries that see no key, right elsewhere;
- empty sides: a merge's NaN exactly where both sides are empty, or exactly where one side is
  empty and holds NaN (its output read), right elsewhere.
Each reports a finding (measure.Finding) only when what it measures holds at every value.
"""

import math

import numpy as np

from attention_conformance.measure import Finding
from attention_conformance.oracle import EXACT
from attention_conformance.precision import excess_over

BASE_2 = 1 / math.log(2)  # log2(x) = ln(x) / ln 2
CLOSE = 1e-3  # how near a fitted factor must come to 1/ln 2, relatively


def findings(call, got, expected, allowed):
    """The instruments' findings for a failing serving call (`allowed`: the run's allowance at each value)."""
    if got.shape != expected.shape:
        return []
    with_lse = call.capability == "attention_with_lse"
    lse = call.on(EXACT)[1] if with_lse else call.named()["lse_a"]
    if expected.ndim == np.ndim(lse):  # the check compared the lse, one value per query
        found = base(got, expected, allowed)
    else:
        found = (unseen if with_lse else empty_sides)(call, got, expected, allowed)
    return [found] if found else []


def base(got, expected, allowed):
    """got = c * expected wherever expected is finite (the same infinities elsewhere), for one c."""
    finite = np.isfinite(expected)
    if not finite.any() or not (got[~finite] == expected[~finite]).all() or not np.isfinite(got[finite]).all():
        return None
    scale = float(np.sum(expected[finite] ** 2))
    if scale == 0:
        return None
    c = float(np.sum(got[finite] * expected[finite])) / scale
    if not (excess_over(got[finite], c * expected[finite], max(abs(c), 1.0) * allowed[finite]) <= 1).all():
        return None
    line = f"evidence: lse is {c:.4g} times the natural log-sum-exp at every query"
    if abs(c - BASE_2) > CLOSE * BASE_2:
        return Finding("lse base", {"factor": c}, (line,))
    return Finding("lse base", {"factor": c, "base": 2}, (f"{line} (1/ln 2 = {BASE_2:.4g}: log base 2)",),
                   ("log-sum-exp in base 2",), why="lse is log2 of the sum of exp(score), 1/ln 2 times the natural log")


def unseen(call, got, expected, allowed):
    """NaN in the outputs of exactly the queries that see no key (their lse is -inf), right elsewhere."""
    _, lse = call.on(EXACT)
    alone = np.broadcast_to(np.isneginf(lse)[..., None], got.shape)
    return _nan_exactly_at(alone, got, expected, allowed, "unseen queries", "queries that see no key",
                           "a query that sees no key gets NaN")


def empty_sides(call, got, expected, allowed):
    """A merge's NaN exactly where both sides are empty, or where one side is empty and holds NaN."""
    named = call.named()
    empty_a, empty_b = np.isneginf(named["lse_a"]), np.isneginf(named["lse_b"])
    nan_a, nan_b = np.isnan(named["out_a"]).any(axis=-1), np.isnan(named["out_b"]).any(axis=-1)
    read = (empty_a & ~empty_b & nan_a) | (empty_b & ~empty_a & nan_b)
    for rows, where, title in ((empty_a & empty_b, "queries both of whose sides are empty", "merging two empty states gives NaN"),
                               (read, "queries with one empty side whose output holds NaN",
                                "merge reads the output of an empty side")):
        found = _nan_exactly_at(np.broadcast_to(rows[..., None], got.shape), got, expected, allowed, "empty sides",
                                where, title)
        if found:
            return found
    return None


def _nan_exactly_at(rows, got, expected, allowed, instrument, where, title):
    """The finding that got is NaN at every value of `rows` (some), and within the allowance elsewhere."""
    if not rows.any() or not np.isnan(got[rows]).all():
        return None
    if not (excess_over(got[~rows], expected[~rows], allowed[~rows]) <= 1).all():
        return None
    count = int(np.count_nonzero(rows.any(axis=-1)))
    line = f"evidence: the output is NaN for the {count} {where}, and right for every other query"
    return Finding(instrument, {"queries": count}, (line,), (title,), why=f"NaN for exactly the {where}", whole=False)
