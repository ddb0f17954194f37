"""multi_head_attention(x, params, n_heads, mask=None) and causal_self_attention(x, params, n_heads)."""

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw, reference_answer
from attention_conformance.checks import as_array, expect_close, expect_shape, fail
from attention_conformance.mistakes import CAUSAL_MASK_FORGOTTEN, HEAD_SIZE_HARD_CODED, UNSCALED_SCORES

# (d_model, n_heads): 512 / 8 is the paper's; a hard-coded d_k = 64 passes there only
HEAD_SPLITS = [(16, 4), (12, 3), (64, 4), (128, 2), (512, 8)]


def look_alikes(x, params, n_heads, mask=None):
    """What the classic mistakes inside multi-head attention would compute on these inputs."""
    d_model = x.shape[-1]
    d_k = d_model // n_heads

    def scaled_by(factor):  # the scores multiplied by `factor`, through w_q
        return definitions.multi_head_attention(x, {**params, "w_q": params["w_q"] * factor}, n_heads, mask)

    def alikes():
        found = [(UNSCALED_SCORES, "the scores were not divided by sqrt(d_k)", scaled_by(np.sqrt(d_k)))]
        if n_heads > 1:
            sqrt_d_model = f"the scores were divided by sqrt(d_model) = sqrt({d_model}), not sqrt(d_k) = sqrt({d_k})"
            found.append((HEAD_SIZE_HARD_CODED, sqrt_d_model, scaled_by(np.sqrt(d_k / d_model))))
        if d_model % 64 == 0 and d_model // 64 != n_heads:
            would = definitions.multi_head_attention(x, params, d_model // 64, mask)
            found.append(
                (HEAD_SIZE_HARD_CODED, f"the heads have 64 features each, not d_model // n_heads = {d_k}", would)
            )
        return found

    return alikes


@pytest.mark.conformance("multi_head_attention")
@pytest.mark.parametrize("d_model, n_heads", HEAD_SPLITS)
def test_mha_matches_the_definition_for_several_head_splits(impl, dtype, tol, d_model, n_heads):
    x, params = draw(30, dtype, (2, 3, d_model), d_model=d_model)
    call = Call("multi_head_attention", x, params, n_heads, None, seed=30)
    got = as_array(call.run(impl), call, "output")
    expect_shape(got, x.shape, call, "output")
    expected = definitions.multi_head_attention(x, params, n_heads)
    expect_close(got, expected, call, "output", tol, look_alikes(x, params, n_heads))


@pytest.mark.conformance("multi_head_attention")
def test_mha_applies_a_padding_mask_to_every_head(impl, dtype, tol):
    x, params = draw(31, dtype, (2, 4, 8), d_model=8)
    mask = np.zeros((2, 1, 1, 4), dtype=dtype)  # (batch, 1, 1, seq): broadcast over heads and queries
    mask[0, ..., 3:] = -np.inf
    mask[1, ..., 1:] = -np.inf
    call = Call("multi_head_attention", x, params, 2, mask, seed=31)
    expected = definitions.multi_head_attention(x, params, 2, mask)
    expect_close(call.run(impl), expected, call, "output with a padding mask", tol, look_alikes(x, params, 2, mask))


@pytest.mark.conformance("causal_self_attention")
@pytest.mark.parametrize("d_model, n_heads", [(8, 2), (12, 3)])
def test_causal_self_attention_matches_the_definition(impl, dtype, tol, d_model, n_heads):
    x, params = draw(32, dtype, (2, 5, d_model), d_model=d_model)
    call = Call("causal_self_attention", x, params, n_heads, seed=32)
    expected = definitions.causal_self_attention(x, params, n_heads)
    expect_close(
        call.run(impl), expected, call, "output", tol, look_alikes(x, params, n_heads, definitions.causal_mask(5))
    )


@pytest.mark.conformance("causal_self_attention")
def test_causal_self_attention_ignores_future_positions(impl, dtype, tol):
    x, params = draw(33, dtype, (2, 5, 8), d_model=8)
    first_call = Call("causal_self_attention", x, params, 2, seed=33)
    before = as_array(first_call.run(impl), first_call, "output")
    for changed in range(1, 5):
        later = x.copy()
        later[:, changed] += 1  # change one position: no earlier output may move
        call = Call("causal_self_attention", later, params, 2, seed=33)
        after = as_array(call.run(impl), call, "output")
        moved = np.abs(after[:, :changed] - before[:, :changed]).max(axis=(0, 2))  # per earlier position
        leaked = ~(moved <= tol.atol)  # NaN counts as moved
        if leaked.any():
            first = int(np.argmax(leaked))
            fail(
                call,
                f"outputs before position {changed} unchanged when x[:, {changed}] changes",
                [f"output at position {first} moved by {moved[first]:.3g} (allowed: {tol.atol:.0e})"],
                _unmasked_diagnosis(
                    impl, call, after, tol, f"output at position {first} changed when position {changed} changed"
                ),
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
    x, params = draw(34, dtype, (3, 6, 16), d_model=16)
    call = Call("causal_self_attention", x, params, 4, seed=34)
    expect_close(call.run(impl), reference_answer(call), call, "output vs reference", tol)


@pytest.mark.conformance("multi_head_attention")
@pytest.mark.differential
def test_mha_matches_reference(impl, dtype, tol):
    x, params = draw(35, dtype, (2, 7, 512), d_model=512)
    call = Call("multi_head_attention", x, params, 8, None, seed=35)
    expect_close(call.run(impl), reference_answer(call), call, "output vs reference", tol)
