"""scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights), or output alone."""

import math

import numpy as np
import pytest

from suite import definitions
from suite.cases import Call, draw
from suite.checks import as_array, expect, expect_close, expect_shape
from suite.mistakes import (
    HEAD_SIZE_HARD_CODED,
    KEYS_NOT_TRANSPOSED,
    MASK_AFTER_SOFTMAX,
    SOFTMAX_WRONG_AXIS,
    UNSCALED_SCORES,
)

pytestmark = pytest.mark.conformance("scaled_dot_product_attention")

# name -> shapes of q, k, v: 3-D and 4-D, Lq != Lk, d_v != d_k, batch > 1
SHAPES = {
    "3d": ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
    "4d-heads": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)),
    "seq-equals-d_k": ((2, 2, 4, 4), (2, 2, 4, 4), (2, 2, 4, 4)),
}


def attend(impl, dtype, shapes, seed, mask=None):
    """Draw q, k, v, call the implementation: (call, q, k, v, output, weights or None)."""
    q, k, v = draw(seed, dtype, *shapes)
    call = Call("scaled_dot_product_attention", q, k, v, mask, seed=seed)
    result = call.run(impl)
    output, weights = result if isinstance(result, (tuple, list)) and len(result) == 2 else (result, None)
    return call, q, k, v, as_array(output, call, "output"), weights


def expect_weights(weights, call):
    """The weights as an array; skips when the implementation exposes none (the contract allows it)."""
    __tracebackhide__ = True
    if weights is None:
        pytest.skip("the implementation returns the output alone, without weights")
    return as_array(weights, call, "weights")


def look_alikes(q, k, v, mask, pick):
    """What each classic mistake would compute here; `pick` chooses output (0) or weights (1)."""

    def alikes():
        d_k = q.shape[-1]
        found = [
            (UNSCALED_SCORES, "the scores were not divided by sqrt(d_k)", definitions.attention(q * math.sqrt(d_k), k, v, mask)),
            (HEAD_SIZE_HARD_CODED, f"the scores were divided by sqrt(64), not sqrt(d_k) = sqrt({d_k})", definitions.attention(q * math.sqrt(d_k) / 8, k, v, mask)),
            (SOFTMAX_WRONG_AXIS, "the weights were normalised over queries, not keys", _over_queries(q, k, v, mask)),
        ]
        if mask is not None:
            found.append((MASK_AFTER_SOFTMAX, "the weights were zeroed where masked after the softmax", _mask_after(q, k, v, mask)))
        if k.shape[-2] == k.shape[-1]:
            found.append((KEYS_NOT_TRANSPOSED, "the scores are q @ k, not q @ k^T", definitions.attention(q, k.swapaxes(-1, -2), v, mask)))
        return [(mistake, symptom, result[pick]) for mistake, symptom, result in found]

    return alikes


def _over_queries(q, k, v, mask):
    weights = definitions.softmax(definitions.scores(q, k, mask), axis=-2)
    return weights @ v.astype(np.float64), weights


def _mask_after(q, k, v, mask):
    weights = definitions.softmax(definitions.scores(q, k), axis=-1) * (np.asarray(mask) == 0)
    return weights @ v.astype(np.float64), weights


def padding_mask(batch, lq, lk, padded):
    """(batch, 1, Lk) broadcast over queries: the last `padded[b]` keys of batch b are -inf."""
    mask = np.zeros((batch, 1, lk))
    for b, n in enumerate(padded):
        mask[b, :, lk - n :] = -np.inf
    return mask


@pytest.mark.parametrize("case", SHAPES)
def test_sdpa_output_and_weights_have_the_contract_shapes(impl, dtype, case):
    shapes = SHAPES[case]
    call, q, k, v, output, weights = attend(impl, dtype, shapes, seed=10)
    expect_shape(output, q.shape[:-1] + v.shape[-1:], call, "output")
    expect_shape(expect_weights(weights, call), q.shape[:-1] + k.shape[-2:-1], call, "weights")


@pytest.mark.parametrize("case", SHAPES)
def test_sdpa_matches_the_definition(impl, dtype, tol, case):
    call, q, k, v, output, weights = attend(impl, dtype, SHAPES[case], seed=11)
    expect_close(output, definitions.attention(q, k, v)[0], call, "output", tol, look_alikes(q, k, v, None, 0))
    expect_close(expect_weights(weights, call), definitions.attention(q, k, v)[1], call, "weights", tol, look_alikes(q, k, v, None, 1))


def test_sdpa_scales_scores_by_sqrt_d_k(impl, dtype, tol):
    # d_k = 16: scaling by 1/4 matters, and 1/8 (a hard-coded 64) is also wrong
    call, q, k, v, output, _ = attend(impl, dtype, ((2, 3, 16), (2, 5, 16), (2, 5, 3)), seed=12)
    expect_close(output, definitions.attention(q, k, v)[0], call, "output", tol, look_alikes(q, k, v, None, 0))


def test_sdpa_transposes_only_the_last_two_axes_of_k(impl, dtype, tol):
    # seq_len == d_k: q @ k without the transpose still runs; 4-D catches a 3-D-only transpose
    for shapes in ((2, 4, 4), (2, 4, 4), (2, 4, 3)), ((2, 2, 4, 4), (2, 2, 4, 4), (2, 2, 4, 3)):
        call, q, k, v, output, _ = attend(impl, dtype, shapes, seed=13)
        expect_close(output, definitions.attention(q, k, v)[0], call, "output", tol, look_alikes(q, k, v, None, 0))


def test_sdpa_weights_sum_to_one_over_keys(impl, dtype, tol):
    # v = 1 makes each output row the sum of its weights: checkable without the weights
    q, k = draw(14, dtype, (2, 3, 4), (2, 5, 4))
    v = np.ones((2, 5, 2), dtype=dtype)
    call = Call("scaled_dot_product_attention", q, k, v, None, seed=14)
    result = call.run(impl)
    output = as_array(result[0] if isinstance(result, (tuple, list)) else result, call, "output")

    expect_close(output, np.ones((2, 3, 2)), call, "sum of the weights over keys (output with v = 1)", tol, look_alikes(q, k, v, None, 0))


def test_sdpa_masked_keys_get_zero_weight_and_rows_still_sum_to_one(impl, dtype, tol):
    mask = padding_mask(2, 3, 5, padded=(2, 1)).astype(dtype)
    q, k, v = draw(15, dtype, (2, 3, 4), (2, 5, 4), (2, 5, 6))
    call = Call("scaled_dot_product_attention", q, k, v, mask, seed=15)
    result = call.run(impl)
    output, weights = result if isinstance(result, (tuple, list)) else (result, None)
    expected = definitions.attention(q, k, v, mask)
    expect_close(output, expected[0], call, "output with a padding mask", tol, look_alikes(q, k, v, mask, 0))
    weights = expect_weights(weights, call)
    expect_close(weights, expected[1], call, "weights with a padding mask", tol, look_alikes(q, k, v, mask, 1))


def test_sdpa_applies_a_causal_mask_to_4d_heads(impl, dtype, tol):
    mask = definitions.causal_mask(4).astype(dtype)
    call, q, k, v, output, _ = attend(impl, dtype, ((2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5)), seed=16, mask=mask)
    expect_close(output, definitions.attention(q, k, v, mask)[0], call, "output with a causal mask", tol, look_alikes(q, k, v, mask, 0))


def test_sdpa_is_stable_for_large_logits(impl, dtype, tol):
    # scores of about +-1000: the softmax inside must subtract each row's max
    q, k, v = draw(17, dtype, (2, 3, 4), (2, 5, 4), (2, 5, 2))
    q = (q * 500).astype(dtype)
    call = Call("scaled_dot_product_attention", q, k, v, None, seed=17)
    result = call.run(impl)
    output = as_array(result[0] if isinstance(result, (tuple, list)) else result, call, "output")
    expect(np.isfinite(output).all(), call, "output is finite for scores near +-1000", [f"got {output.tolist()}"])
    expect_close(output, definitions.attention(q, k, v)[0], call, "output with large logits", tol)


@pytest.mark.differential
def test_sdpa_matches_reference(impl, dtype, tol):
    import reference

    mask = padding_mask(3, 6, 7, padded=(0, 3, 1))[:, None]  # (batch, 1, 1, Lk)
    call, q, k, v, output, _ = attend(impl, dtype, ((3, 2, 6, 8), (3, 2, 7, 8), (3, 2, 7, 4)), seed=18, mask=mask.astype(dtype))
    as64 = [a.astype(np.float64) for a in (q, k, v, mask)]
    expect_close(output, reference.scaled_dot_product_attention(*as64)[0], call, "output vs reference", tol)
