"""create_causal_mask(seq_len): (seq_len, seq_len), 0.0 where j <= i, -inf where j > i."""

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.checks import as_array, expect_close, expect_shape
from attention_conformance.mistakes import MASK_WRONG_SHAPE

pytestmark = pytest.mark.conformance("create_causal_mask")


def test_causal_mask_known_answer_for_three_positions(impl, tol):
    call = Call("create_causal_mask", 3)
    inf = np.inf
    expected = [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    expect_close(call.run(impl), expected, call, "causal mask", tol)


@pytest.mark.parametrize("seq_len", [1, 2, 5, 8])
def test_causal_mask_is_seq_by_seq_with_minus_inf_above_the_diagonal(impl, tol, seq_len):
    call = Call("create_causal_mask", seq_len)
    got = as_array(call.run(impl), call, "causal mask")

    def diagnose(got):
        if got.ndim == 1:
            return MASK_WRONG_SHAPE.explain(
                f"a 1-D mask of shape {got.shape} broadcasts the same row to every query, "
                "so it cannot hide a different future from each position"
            )
        return None

    expect_shape(got, (seq_len, seq_len), call, "causal mask", diagnose)
    expect_close(got, definitions.causal_mask(seq_len), call, "causal mask", tol)
