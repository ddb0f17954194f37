"""split_heads(x, n_heads) and merge_heads(x): the PyTorch packing, head h = features [h*d_k, (h+1)*d_k)."""

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw, rely_on
from attention_conformance.checks import as_array, expect_close, expect_shape
from attention_conformance.mistakes import HEAD_SIZE_HARD_CODED, HEADS_AVERAGED

# (d_model, n_heads): 512 / 8 is where a hard-coded d_k = 64 is right; the others expose it
HEAD_SPLITS = [(512, 8), (128, 4), (64, 4), (12, 3), (8, 1)]


def _head_size_diagnosis(d_model, n_heads):
    def diagnose(got):
        if got.ndim == 4 and got.shape[-1] != d_model // n_heads:
            return HEAD_SIZE_HARD_CODED.explain(
                f"each head holds {got.shape[-1]} features, not d_model // n_heads = {d_model // n_heads}"
            )
        return None

    return diagnose


@pytest.mark.conformance("split_heads")
@pytest.mark.parametrize("d_model, n_heads", HEAD_SPLITS)
def test_split_heads_gives_each_head_d_model_over_n_heads_features(impl, dtype, tol, d_model, n_heads):
    (x,) = draw(20, dtype, (2, 3, d_model))
    call = Call("split_heads", x, n_heads, seed=20)
    got = as_array(call.run(impl), call, "heads")
    expect_shape(got, (2, n_heads, 3, d_model // n_heads), call, "heads", _head_size_diagnosis(d_model, n_heads))
    expect_close(got, definitions.split_heads(x, n_heads), call, "heads", tol)


@pytest.mark.conformance("split_heads")
def test_split_heads_puts_features_h_d_k_to_h_plus_1_d_k_in_head_h(impl, tol):
    # feature f of position s holds 100 * s + f, so every value says where it came from
    x = (100 * np.arange(3)[None, :, None] + np.arange(6)[None, None, :]).astype(np.float64)
    call = Call("split_heads", x, 2)
    expected = [[[[0, 1, 2], [100, 101, 102], [200, 201, 202]], [[3, 4, 5], [103, 104, 105], [203, 204, 205]]]]
    expect_close(call.run(impl), expected, call, "heads", tol)


@pytest.mark.conformance("merge_heads")
@pytest.mark.parametrize("d_model, n_heads", HEAD_SPLITS)
def test_merge_heads_puts_the_heads_side_by_side(impl, dtype, tol, d_model, n_heads):
    (x,) = draw(21, dtype, (2, 3, d_model))
    heads = definitions.split_heads(x, n_heads)
    call = Call("merge_heads", heads, seed=21)
    got = as_array(call.run(impl), call, "merged heads")

    def diagnose(got):
        if n_heads > 1 and got.shape == heads.shape[:1] + heads.shape[2:] and np.allclose(got, heads.mean(axis=1)):
            return HEADS_AVERAGED.explain(f"the output is {got.shape[-1]} wide, the mean of the heads, not {d_model}")
        return None

    expect_shape(got, x.shape, call, "merged heads", diagnose)
    expect_close(got, x, call, "merged heads", tol)


@pytest.mark.conformance("merge_heads")
def test_merge_heads_inverts_split_heads(impl, dtype, tol):
    impl.function("merge_heads")  # the capability under test first: it skips, or fails under --impl-strict
    (x,) = draw(22, dtype, (3, 5, 12))
    heads = rely_on(impl, Call("split_heads", x, 4, seed=22), definitions.split_heads(x, 4), tol)
    merge = Call("merge_heads", heads.astype(dtype), seed=22)
    expect_close(merge.run(impl), x, merge, "merge_heads(split_heads(x, 4)) == x", tol)
