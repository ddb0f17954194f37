"""multi_head_attention(x, params, n_heads, mask=None) and causal_self_attention(x, params, n_heads)."""

import numpy as np
import pytest

from suite import definitions
from suite.cases import Call, draw, draw_params
from suite.checks import as_array, expect_close, expect_shape, fail
from suite.mistakes import CAUSAL_MASK_FORGOTTEN, HEAD_SIZE_HARD_CODED

# (d_model, n_heads): 512 / 8 is the paper's; a hard-coded d_k = 64 passes there only
SPLITS = [(16, 4), (12, 3), (64, 4), (128, 2), (512, 8)]


def _inputs(seed, dtype, batch, seq, d_model):
    (x,) = draw(seed, dtype, (batch, seq, d_model))
    return x, draw_params(seed + 1, dtype, d_model)


def _head_size_look_alike(x, params, n_heads, mask=None):
    d_model = x.shape[-1]

    def alikes():
        if d_model % 64 or d_model // 64 == n_heads:
            return []
        would = definitions.multi_head_attention(x, params, d_model // 64, mask)
        return [(HEAD_SIZE_HARD_CODED, f"the heads have 64 features each, not d_model // n_heads = {d_model // n_heads}", would)]

    return alikes


@pytest.mark.conformance("multi_head_attention")
@pytest.mark.parametrize("d_model, n_heads", SPLITS)
def test_mha_matches_the_definition_for_several_head_splits(impl, dtype, tol, d_model, n_heads):
    x, params = _inputs(30, dtype, 2, 3, d_model)
    call = Call("multi_head_attention", x, params, n_heads, None, seed=30)
    got = as_array(call.run(impl), call, "output")
    expect_shape(got, x.shape, call, "output")
    expected = definitions.multi_head_attention(x, params, n_heads)
    expect_close(got, expected, call, "output", tol, _head_size_look_alike(x, params, n_heads))


@pytest.mark.conformance("multi_head_attention")
def test_mha_applies_a_padding_mask_to_every_head(impl, dtype, tol):
    x, params = _inputs(31, dtype, 2, 4, 8)
    mask = np.zeros((2, 1, 1, 4), dtype=dtype)  # (batch, 1, 1, seq): broadcast over heads and queries
    mask[0, ..., 3:] = -np.inf
    mask[1, ..., 1:] = -np.inf
    call = Call("multi_head_attention", x, params, 2, mask, seed=31)
    expect_close(call.run(impl), definitions.multi_head_attention(x, params, 2, mask), call, "output with a padding mask", tol)


@pytest.mark.conformance("causal_self_attention")
@pytest.mark.parametrize("d_model, n_heads", [(8, 2), (12, 3)])
def test_causal_self_attention_matches_the_definition(impl, dtype, tol, d_model, n_heads):
    x, params = _inputs(32, dtype, 2, 5, d_model)
    call = Call("causal_self_attention", x, params, n_heads, seed=32)
    expected = definitions.causal_self_attention(x, params, n_heads)
    expect_close(call.run(impl), expected, call, "output", tol, _head_size_look_alike(x, params, n_heads, definitions.causal_mask(5)))


@pytest.mark.conformance("causal_self_attention")
def test_causal_self_attention_ignores_future_positions(impl, dtype, tol):
    x, params = _inputs(33, dtype, 2, 5, 8)
    first_call = Call("causal_self_attention", x, params, 2, seed=33)
    before = as_array(first_call.run(impl), first_call, "output")
    for changed in range(1, 5):
        later = x.copy()
        later[:, changed] += 1  # change one position: no earlier output may move
        call = Call("causal_self_attention", later, params, 2, seed=33)
        after = as_array(call.run(impl), call, "output")
        moved = np.abs(after[:, :changed] - before[:, :changed]).max(axis=(0, 2))
        if (moved > tol.atol).any():
            first = int(np.argmax(moved > tol.atol))
            fail(
                call,
                f"outputs before position {changed} unchanged when x[:, {changed}] changes",
                [f"output at position {first} moved by {moved.max():.3g} (tolerance {tol})"],
                _unmasked_diagnosis(impl, call, after, tol, f"output at position {first} changed when position {changed} changed"),
            )


def _unmasked_diagnosis(impl, call, got, tol, symptom):
    """Causal mask forgotten, when got is attention without a mask and the implementation's own mask is right.

    Other mistakes leak the future too (a softmax over queries, a mask zeroing weights after
    it) but compute something else; a 1-D mask of zeros computes the same as no mask, so the
    forgotten mask is not named when the implementation's own create_causal_mask is wrong.
    """
    x, params, n_heads = call.args
    unmasked = definitions.multi_head_attention(x, params, n_heads)
    if not np.allclose(got, unmasked, rtol=tol.rtol, atol=tol.atol) or not _own_mask_is_right(impl, x.shape[1]):
        return None
    return CAUSAL_MASK_FORGOTTEN.explain(f"{symptom}, and the output is what attention with no mask computes")


def _own_mask_is_right(impl, seq):
    """Whether the implementation's create_causal_mask, if it has one, gives the (seq, seq) causal mask."""
    if not impl.provides("create_causal_mask"):
        return True  # no mask of its own to blame: the mask is missing from the attention
    try:
        mask = np.asarray(impl.function("create_causal_mask")(seq), dtype=np.float64)
    except Exception:
        return False
    return mask.shape == (seq, seq) and np.array_equal(mask, definitions.causal_mask(seq))


@pytest.mark.conformance("causal_self_attention")
@pytest.mark.differential
def test_causal_self_attention_matches_reference(impl, dtype, tol):
    import reference

    x, params = _inputs(34, dtype, 3, 6, 16)
    call = Call("causal_self_attention", x, params, 4, seed=34)
    params64 = {name: w.astype(np.float64) for name, w in params.items()}
    expected = reference.causal_self_attention(x.astype(np.float64), params64, 4)
    expect_close(call.run(impl), expected, call, "output vs reference", tol)


@pytest.mark.conformance("multi_head_attention")
@pytest.mark.differential
def test_mha_matches_reference(impl, dtype, tol):
    import reference

    x, params = _inputs(35, dtype, 2, 7, 512)
    call = Call("multi_head_attention", x, params, 8, None, seed=35)
    params64 = {name: w.astype(np.float64) for name, w in params.items()}
    expected = reference.multi_head_attention(x.astype(np.float64), params64, 8)
    expect_close(call.run(impl), expected, call, "output vs reference", tol)
