"""Contract v3, serving: the reference's log-sum-exp and merge against their definitions, the
formulas against the reference, and the serving instruments (suite/measure_serving.py) on answers
built to hold, or not, what each measures."""

import math

import numpy as np
import pytest

from attention_conformance import measure_serving, oracle
from attention_conformance.calls import Call
from attention_conformance.cases import attention_inputs, merge_inputs
from attention_conformance.reference import attention_with_lse, merge_attention_states, scaled_dot_product_attention


@pytest.mark.parametrize("mask", [None, "padding", "causal", "unseen"])
def test_the_reference_lse_is_the_log_of_the_sum_of_exp_and_its_output_attention(mask):
    q, k, v, additive = attention_inputs(80, "float64", (3, 2), 6, 6, 8, 5, mask).values()
    out, lse = attention_with_lse(q, k, v, additive)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(8) + (0 if additive is None else additive)
    with np.errstate(divide="ignore"):
        direct = np.log(np.exp(scores).sum(axis=-1))  # scores of about 1: no overflow to guard against
    assert np.array_equal(np.isneginf(lse), np.isneginf(direct)) and (np.isneginf(lse).any() == (mask == "unseen"))
    seen = ~np.isneginf(direct)
    assert np.abs(lse[seen] - direct[seen]).max() < 1e-12
    with np.errstate(invalid="ignore"):
        attention = scaled_dot_product_attention(q, k, v, additive)[0]
    assert np.abs(out[seen] - attention[seen]).max() < 1e-12 and (out[~seen] == 0).all()


def test_the_reference_merge_of_two_key_sets_is_attention_over_their_union_even_1000_apart():
    q, k, v, _ = attention_inputs(81, "float64", (2, 2), 5, 11, 8, 4).values()
    shift = np.zeros(11)
    shift[4:] = 1000.0  # the second set's scores raised by 1,000: lse 1,000 apart, its keys dominate
    whole = attention_with_lse(q, k, v, shift)
    a, b = attention_with_lse(q, k[..., :4, :], v[..., :4, :]), attention_with_lse(q, k[..., 4:, :], v[..., 4:, :], shift[4:])
    for merged in (merge_attention_states(*a, *b), merge_attention_states(*b, *a)):
        assert np.abs(merged[0] - whole[0]).max() < 1e-12 and np.abs(merged[1] - whole[1]).max() < 1e-9


@pytest.mark.parametrize("style", ["normal", "far", "empty"])
def test_the_formulas_agree_with_the_reference_and_read_no_empty_side(style):
    inputs = merge_inputs(82, "float64", (2, 3), 5, 4, 6, 8, 8, style)
    got, expected = merge_attention_states(*inputs.values()), oracle.EXACT.merge_attention_states(*inputs.values())
    assert not np.isnan(got[0]).any() and not np.isnan(expected[0]).any()
    assert np.array_equal(np.isneginf(got[1]), np.isneginf(expected[1])) and (np.isneginf(got[1]).any() == (style == "empty"))
    finite = np.isfinite(expected[1])
    assert np.abs(got[0] - expected[0]).max() < 1e-12 and np.abs(got[1][finite] - expected[1][finite]).max() < 1e-12
    lse_inputs = attention_inputs(83, "float64", (2,), 4, 6, 8, 8, "unseen" if style == "empty" else None,
                                  "large" if style == "far" else "normal")
    for mine, theirs in zip(attention_with_lse(*lse_inputs.values()), oracle.EXACT.attention_with_lse(*lse_inputs.values())):
        assert np.array_equal(np.isneginf(mine), np.isneginf(theirs))
        seen = ~np.isinf(theirs)
        assert np.abs(mine[seen] - theirs[seen]).max() < 1e-9


def lse_call(mask="unseen"):
    inputs = attention_inputs(84, "float64", (3, 2), 4, 5, 8, 8, mask)
    return Call("attention_with_lse", *inputs.values(), dtype="float64")


@pytest.mark.parametrize("factor, named", [(1 / math.log(2), "log-sum-exp in base 2"), (2.0, None), (math.log(2), None)])
def test_the_base_instrument_names_base_2_and_only_base_2(factor, named):
    call = lse_call()
    _, expected = call.on(oracle.EXACT)
    (found,) = measure_serving.findings(call, expected * factor, expected, np.full(expected.shape, 1e-10))
    assert found.titles == ((named,) if named else ()) and abs(found.data["factor"] - factor) < 1e-9


def test_the_base_instrument_says_nothing_of_an_lse_off_by_more_than_a_factor():
    call = lse_call(None)
    _, expected = call.on(oracle.EXACT)
    off = expected / math.log(2)
    off[0, 0, 0] += 0.5  # one query's lse off by another amount
    assert measure_serving.findings(call, off, expected, np.full(expected.shape, 1e-10)) == []


def test_the_unseen_instrument_names_nan_at_exactly_the_queries_that_see_no_key():
    call = lse_call()
    expected, lse = call.on(oracle.EXACT)
    got = np.where(np.isneginf(lse)[..., None], np.nan, expected)
    allowed = np.full(expected.shape, 1e-10)
    (found,) = measure_serving.findings(call, got, expected, allowed)
    assert found.titles == ("a query that sees no key gets NaN",) and found.data["queries"] == np.isneginf(lse).sum()
    got[1, 0, 0, 0] += 1.0  # another query wrong too: not that mistake alone
    assert measure_serving.findings(call, got, expected, allowed) == []


@pytest.mark.parametrize("rows, named", [("both", "merging two empty states gives NaN"),
                                         ("one", "merge reads the output of an empty side"), ("all", None)])
def test_the_empty_sides_instrument_tells_both_sides_empty_from_one_side_read(rows, named):
    inputs = merge_inputs(85, "float64", (2,), 5, 4, 6, 8, 8, "empty")
    call = Call("merge_attention_states", *inputs.values(), dtype="float64")
    expected, _ = call.on(oracle.EXACT)
    queries = {"both": [2], "one": [0, 1], "all": [0, 1, 2, 3]}[rows]  # query 0: a empty, 1: b empty, 2: both
    got = expected.copy()
    got[..., queries, :] = np.nan
    found = measure_serving.findings(call, got, expected, np.full(expected.shape, 1e-10))
    assert [finding.titles for finding in found] == ([(named,)] if named else [])
