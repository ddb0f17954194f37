"""scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights), or output alone."""

import math

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw, reference_answer
from attention_conformance.checks import as_array, expect, expect_close, expect_shape
from attention_conformance.mistakes import KEYS_NOT_TRANSPOSED, MASK_AFTER_SOFTMAX, SOFTMAX_WRONG_AXIS, UNSCALED_SCORES

pytestmark = pytest.mark.conformance("scaled_dot_product_attention")

# name -> shapes of q, k, v: 3-D and 4-D, Lq != Lk, d_v != d_k, batch > 1
SHAPES = {
    "3d": ((2, 3, 4), (2, 5, 4), (2, 5, 6)),
    "4d-heads": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 5)),
    "seq-equals-d_k": ((2, 2, 4, 4), (2, 2, 4, 4), (2, 2, 4, 4)),
}


class Attended:
    """One call of the implementation: its inputs, its output as an array, its weights if any."""

    def __init__(self, impl, q, k, v, mask=None, seed=None):
        self.q, self.k, self.v, self.mask = q, k, v, mask
        self.call = Call("scaled_dot_product_attention", q, k, v, mask, seed=seed)
        result = self.call.run(impl)
        # Only a tuple of two is (output, weights): a nested list is an output like any other.
        output, self._weights = result if isinstance(result, tuple) and len(result) == 2 else (result, None)
        self.output = as_array(output, self.call, "output")

    @property
    def weights(self):
        """The weights as an array; skips when the implementation returns none (the contract allows it)."""
        if self._weights is None:
            pytest.skip("the implementation returns the output alone, without weights")
        return as_array(self._weights, self.call, "weights")

    def expected(self):
        return definitions.attention(self.q, self.k, self.v, self.mask)

    def look_alikes(self, pick):
        """What each classic mistake would compute on these inputs: `pick` 0 for output, 1 for weights."""
        q, k, v, mask = self.q, self.k, self.v, self.mask

        def alikes():
            unscaled = definitions.attention(q * math.sqrt(q.shape[-1]), k, v, mask)
            found = [(UNSCALED_SCORES, "the scores were not divided by sqrt(d_k)", unscaled)]
            for axis in range(q.ndim - 1):  # every axis of the scores but the keys'
                where = "queries" if axis == q.ndim - 2 else f"axis {axis}"
                found.append(
                    (
                        SOFTMAX_WRONG_AXIS,
                        f"the weights were normalised over {where}, not keys",
                        _over(axis, q, k, v, mask),
                    )
                )
            if mask is not None:
                found.append(
                    (
                        MASK_AFTER_SOFTMAX,
                        "the weights were zeroed where masked, after the softmax",
                        _mask_after(q, k, v, mask),
                    )
                )
            if k.shape[-2] == k.shape[-1]:
                found.append(
                    (
                        KEYS_NOT_TRANSPOSED,
                        "the scores are q @ k, not q @ k^T",
                        definitions.attention(q, k.swapaxes(-1, -2), v, mask),
                    )
                )
            return [(mistake, symptom, result[pick]) for mistake, symptom, result in found]

        return alikes

    def expect_output(self, tol, what="output"):
        expect_close(self.output, self.expected()[0], self.call, what, tol, self.look_alikes(0))

    def expect_weights(self, tol, what="weights"):
        expect_close(self.weights, self.expected()[1], self.call, what, tol, self.look_alikes(1))


def _over(axis, q, k, v, mask):
    weights = definitions.softmax(definitions.scores(q, k, mask), axis=axis)
    return weights @ v.astype(np.float64), weights


def _mask_after(q, k, v, mask):
    weights = definitions.softmax(definitions.scores(q, k), axis=-1) * (np.asarray(mask) == 0)
    return weights @ v.astype(np.float64), weights


def padding_mask(batch, lk, padded):
    """(batch, 1, Lk), broadcast over queries: the last `padded[b]` keys of batch b are -inf."""
    mask = np.zeros((batch, 1, lk))
    for b, n in enumerate(padded):
        mask[b, :, lk - n :] = -np.inf
    return mask


@pytest.mark.parametrize("case", SHAPES)
def test_sdpa_output_and_weights_have_the_contract_shapes(impl, dtype, case):
    q, k, v = draw(10, dtype, *SHAPES[case])
    got = Attended(impl, q, k, v, seed=10)
    expect_shape(got.output, q.shape[:-1] + v.shape[-1:], got.call, "output")
    expect_shape(got.weights, q.shape[:-1] + k.shape[-2:-1], got.call, "weights")


@pytest.mark.parametrize("case", SHAPES)
def test_sdpa_matches_the_definition(impl, dtype, tol, case):
    got = Attended(impl, *draw(11, dtype, *SHAPES[case]), seed=11)
    got.expect_output(tol)
    got.expect_weights(tol)


def test_sdpa_scales_scores_by_sqrt_d_k(impl, dtype, tol):
    # d_k = 16: a missing or wrong scale changes every weight
    Attended(impl, *draw(12, dtype, (2, 3, 16), (2, 5, 16), (2, 5, 3)), seed=12).expect_output(tol)


def test_sdpa_transposes_only_the_last_two_axes_of_k(impl, dtype, tol):
    # seq_len == d_k: q @ k without the transpose still runs; 4-D catches a 3-D-only transpose
    for shapes in ((2, 4, 4), (2, 4, 4), (2, 4, 3)), ((2, 2, 4, 4), (2, 2, 4, 4), (2, 2, 4, 3)):
        Attended(impl, *draw(13, dtype, *shapes), seed=13).expect_output(tol)


def test_sdpa_weights_sum_to_one_over_keys(impl, dtype, tol):
    # v = 1 makes each output row the sum of its weights: checkable without the weights
    q, k = draw(14, dtype, (2, 3, 4), (2, 5, 4))
    got = Attended(impl, q, k, np.ones((2, 5, 2), dtype=dtype), seed=14)
    expect_close(
        got.output,
        np.ones((2, 3, 2)),
        got.call,
        "sum of the weights over keys (output with v = 1)",
        tol,
        got.look_alikes(0),
    )


def test_sdpa_masked_keys_get_zero_weight_and_rows_still_sum_to_one(impl, dtype, tol):
    mask = padding_mask(2, 5, padded=(2, 1)).astype(dtype)
    got = Attended(impl, *draw(15, dtype, (2, 3, 4), (2, 5, 4), (2, 5, 6)), mask, seed=15)
    got.expect_output(tol, "output with a padding mask")
    got.expect_weights(tol, "weights with a padding mask")


def test_sdpa_applies_a_causal_mask_to_4d_heads(impl, dtype, tol):
    mask = definitions.causal_mask(4).astype(dtype)
    got = Attended(impl, *draw(16, dtype, (2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5)), mask, seed=16)
    got.expect_output(tol, "output with a causal mask")


def test_sdpa_is_stable_for_large_logits(impl, dtype, tol):
    # q scaled by 500: scores of about +-1000, so the softmax inside must subtract each row's max
    q, k, v = draw(17, dtype, (2, 3, 4), (2, 5, 4), (2, 5, 2))
    got = Attended(impl, (q * 500).astype(dtype), k, v, seed=17)
    expect(
        np.isfinite(got.output).all(),
        got.call,
        "output is finite for scores near +-1000",
        [f"got {got.output.tolist()}"],
    )
    got.expect_output(tol, "output with large logits")


@pytest.mark.differential
def test_sdpa_matches_reference(impl, dtype, tol):
    mask = padding_mask(3, 7, padded=(0, 3, 1))[:, None].astype(dtype)  # (batch, 1, 1, Lk)
    got = Attended(impl, *draw(18, dtype, (3, 2, 6, 8), (3, 2, 7, 8), (3, 2, 7, 4)), mask, seed=18)
    expect_close(got.output, reference_answer(got.call)[0], got.call, "output vs reference", tol)
