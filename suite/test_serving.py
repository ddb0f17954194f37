"""attention_with_lse(q, k, v, mask=None) -> (output, lse) and merge_attention_states(out_a, lse_a,
out_b, lse_b) -> (out, lse): attention split over key sets and merged back, as serving engines do."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, attention_inputs, cases, kernel_head_dims
from attention_conformance.checks import check
from attention_conformance.oracle import EXACT

with_lse = pytest.mark.conformance("attention_with_lse")
merging = pytest.mark.conformance("merge_attention_states")


def lse_case(id, seed, lead, lq, lk, d_k, d_v, mask=None, style="normal", pinned=()):
    params = dict(seed=seed, lead=lead, lq=lq, lk=lk, d_k=d_k, d_v=d_v, mask=mask, style=style)
    return Case(id, "attention_with_lse", params, draw="attention_inputs", pinned=pinned)


def merge_case(id, seed, lead, lq, lk_a, lk_b, d_k, d_v, style="normal"):
    params = dict(seed=seed, lead=lead, lq=lq, lk_a=lk_a, lk_b=lk_b, d_k=d_k, d_v=d_v, style=style)
    return Case(id, "merge_attention_states", params, draw="merge_inputs")


def output(result):
    return _pair(result)[0]


def lse(result):
    return _pair(result)[1]


def _pair(result):
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("the contract's result is the pair (output, lse)")
    return result


def output_and_lse(impl, case):
    call = Call.of(case, impl.dtype)
    result = call.run(impl)
    check(impl, call, "output", output, result=result)
    check(impl, call, "lse (the natural log of each query's sum of exp(score))", lse, result=result)


def kernel_lse_cases(declaration):
    """Lengths around the usual tiles, with and without the causal mask, and 1,000 keys."""
    found = []
    for d in kernel_head_dims(declaration)[1:]:
        for length in KERNEL_LENGTHS[1:]:
            for mask in (None, "causal"):
                found.append(lse_case(f"d{d}-len{length}-{mask or 'no-mask'}", 70, (2, 8), length, length, d, d, mask,
                                      "dominant", ("d_k",)))
        found.append(lse_case(f"d{d}-queries65-keys1000-padding", 71, (2, 4), 65, 1000, d, d, "padding", "dominant",
                              ("d_k",)))
    return found


@with_lse
@cases(
    lse_case("3d", 70, (2,), 3, 5, 4, 6),
    lse_case("4d-heads", 70, (2, 3), 4, 6, 8, 5),
    lse_case("one-query", 70, (2, 2), 1, 70, 16, 16),
    lse_case("padding", 70, (3, 2), 5, 7, 8, 8, "padding"),
    lse_case("causal", 70, (2, 2), 6, 6, 8, 8, "causal"),
    lse_case("crosses-tiles", 70, (2, 2), 100, 130, 16, 16, style="dominant"),
    kernel=kernel_lse_cases,
)
def test_lse_attention_output_and_lse_match_the_formula(impl, case):
    output_and_lse(impl, case)


@with_lse
@cases(lse_case("large", 72, (2,), 4, 6, 8, 8, style="large"))
def test_lse_is_finite_and_right_for_scores_of_a_thousand(impl, case):
    # exp(1000) overflows in every float dtype: the log-sum-exp must shift by the max first
    output_and_lse(impl, case)


@with_lse
@cases(lse_case("unseen", 73, (3, 2), 4, 5, 8, 8, "unseen"))
def test_lse_of_a_query_that_sees_no_key_is_minus_inf_and_its_output_zero(impl, case):
    # batch row 0 hides every key: no NaN from 0 / 0, and lse -inf, which a merge then ignores
    output_and_lse(impl, case)


@merging
@cases(
    merge_case("3d", 74, (2,), 5, 4, 6, 8, 3),
    merge_case("4d-heads", 74, (2, 3), 4, 1, 9, 8, 8),
    merge_case("one-query", 74, (2, 2), 1, 30, 40, 16, 16),
    kernel=[merge_case("d128-257-queries", 75, (2, 8), 257, 300, 700, 128, 128)],
)
def test_merge_matches_the_formula(impl, case):
    output_and_lse(impl, case)


@merging
@cases(merge_case("far", 76, (2,), 6, 4, 5, 8, 8, style="far"))
def test_merge_is_finite_and_right_for_lse_a_thousand_apart(impl, case):
    # exp(lse) overflows at 1,000 and underflows at -1,000: the shares must be taken relative to the larger lse
    output_and_lse(impl, case)


@merging
@cases(merge_case("empty", 77, (2, 2), 5, 4, 5, 8, 8, style="empty"))
def test_merge_never_reads_the_output_of_an_empty_side(impl, case):
    # an empty side has lse -inf and an output of NaN here: it weighs 0, and 0 * NaN must not reach the result
    output_and_lse(impl, case)


@merging
@cases(merge_case("halves", 78, (2, 2), 5, 6, 7, 8, 4))
def test_merging_the_two_halves_gives_attention_over_all_keys(impl, case):
    # the meaning of a merge, without its formula: attention over keys a and b at once
    p = case.params
    drawn = attention_inputs(p["seed"], "float64", p["lead"], p["lq"], p["lk_a"] + p["lk_b"], p["d_k"], p["d_v"])
    whole, _ = EXACT.scaled_dot_product_attention(drawn["q"], drawn["k"], drawn["v"])
    check(impl, Call.of(case, impl.dtype), "output vs attention over the keys of both sides", output, expected=whole)
