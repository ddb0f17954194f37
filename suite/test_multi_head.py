"""multi_head_attention(x, params, n_heads, mask=None) and causal_self_attention(x, params, n_heads)."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, cases, kernel_head_dims
from attention_conformance.checks import check, fail

# (d_model, n_heads): 512 / 8 is the paper's, where a hard-coded d_k = 64 passes; one head too
HEAD_SPLITS = [(16, 4), (12, 3), (64, 4), (128, 2), (512, 8), (8, 1)]


def layer(capability, id, seed, batch, seq, d_model, n_heads, pinned=(), **options):
    params = dict(seed=seed, batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, **options)
    return Case(id, capability, params, draw="layer_inputs", pinned=pinned)


def kernel_layers(capability, seed, **options):
    """Head widths 32, 64, 128 (256 where declared), lengths around the usual tiles, 8 rows x 2 heads."""

    def kernel(declaration):
        return [layer(capability, f"d{d}-len{length}", seed, 8, length, 2 * d, 2, pinned=("d_model",),
                      style="dominant", **options)
                for d in kernel_head_dims(declaration) for length in KERNEL_LENGTHS if length > 1]

    return kernel


@pytest.mark.conformance("multi_head_attention")
@cases(
    *(layer("multi_head_attention", f"{d_model}-{n_heads}", 30, 2, 3, d_model, n_heads) for d_model, n_heads in HEAD_SPLITS),
    layer("multi_head_attention", "crosses-tiles", 30, 2, 100, 32, 2, style="dominant"),
    kernel=kernel_layers("multi_head_attention", 36),
)
def test_mha_matches_the_formula_for_several_head_splits(impl, case):
    check(impl, Call.of(case, impl.dtype), "output")


@pytest.mark.conformance("multi_head_attention")
@cases(
    layer("multi_head_attention", "padding", 31, 2, 4, 8, 2, mask="padding"),
    layer("multi_head_attention", "padding-crosses-tiles", 31, 3, 80, 32, 2, mask="padding", style="dominant"),
)
def test_mha_applies_a_padding_mask_to_every_head(impl, case):
    check(impl, Call.of(case, impl.dtype), "output with a padding mask")


@pytest.mark.conformance("causal_self_attention")
@cases(
    layer("causal_self_attention", "8-2", 32, 2, 5, 8, 2),
    layer("causal_self_attention", "12-3", 32, 2, 5, 12, 3),
    layer("causal_self_attention", "crosses-tiles", 32, 2, 100, 32, 2, style="dominant"),
    kernel=kernel_layers("causal_self_attention", 37),
)
def test_causal_self_attention_matches_the_formula(impl, case):
    check(impl, Call.of(case, impl.dtype), "output")


@pytest.mark.conformance("causal_self_attention")
@cases(layer("causal_self_attention", "8-2", 33, 2, 5, 8, 2))
def test_causal_self_attention_ignores_future_positions(impl, case):
    before = check(impl, Call.of(case, impl.dtype), "output")
    for changed in range(1, 5):  # 1 added to x at one position: no earlier output may move
        call = Call.of(case.with_params(bumped=changed), impl.dtype)
        after = check(impl, call, f"output with x[:, {changed}] changed")
        moved = np.abs(after[:, :changed] - before[:, :changed]).max(axis=(0, 2))  # per earlier position
        leaked = ~(moved <= impl.allowance.allowed(np.abs(before).max()).max())  # NaN counts as moved
        if leaked.any():
            first = int(np.argmax(leaked))
            fail(call, f"outputs before position {changed} unchanged when x[:, {changed}] changes",
                 [f"output at position {first} moved by {moved[first]:.3g}"], reproduce=call.snippet(impl.name))


@pytest.mark.conformance("causal_self_attention")
@pytest.mark.differential
@cases(layer("causal_self_attention", "reference", 34, 3, 6, 16, 4))
def test_causal_self_attention_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "output vs reference", expected=call.on(reference))


@pytest.mark.conformance("multi_head_attention")
@pytest.mark.differential
@cases(layer("multi_head_attention", "reference", 35, 2, 7, 512, 8, pinned=("d_model",)))
def test_mha_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "output vs reference", expected=call.on(reference))
