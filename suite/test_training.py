"""Contract v3, training: F_backward(..., d_out, ...) is the gradient of sum(F(...) * d_out) with
respect to F's differentiable inputs (docs/contract.md, "The backward pass").

Each gradient is checked on its own (dq, then dk, then dv; d_params one weight at a time), against
the formulas and, without them, against what any gradient must do: zero on what the forward
hides, one batch row's blind to another's d_out, dv of d_out = 1 the weights' column sums.
"""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases, kernel_head_dims
from attention_conformance.checks import check
from attention_conformance.gradients import gradients, reader
from attention_conformance.oracle import EXACT

conformance = pytest.mark.conformance


def expect_gradients(impl, case, what="", call=None):
    """Each gradient of the case's call against the formulas (`what` says what the case is about)."""
    call = call or Call.of(case, impl.dtype)
    result = call.run(impl)
    for name, observe in gradients(call.capability):
        check(impl, call, f"{name}{what}", observe, result=result)


def softmax_case(id, seed, shape, scale=3.0, axis=-1):
    params = dict(seed=seed, of="logits", shape=shape, scale=scale)
    return Case(id, "softmax_backward", params, draw="backward_inputs", kwargs=dict(axis=axis))


def sdpa_case(id, seed, lead, lq, lk, d_k, d_v, mask=None, style="normal", d_out="normal", shared_kv=False, pinned=()):
    params = dict(seed=seed, of="attention_inputs", lead=lead, lq=lq, lk=lk, d_k=d_k, d_v=d_v, mask=mask, style=style,
                  shared_kv=shared_kv, d_out=d_out)
    return Case(id, "scaled_dot_product_attention_backward", params, draw="backward_inputs", pinned=pinned)


def layer_case(id, capability, seed, batch, seq, d_model, n_heads, pinned=(), **options):
    params = dict(seed=seed, of="layer_inputs", batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, **options)
    return Case(id, capability, params, draw="backward_inputs", pinned=pinned)


def rope_case(id, seed, lead, seq, d, start=0):
    params = dict(seed=seed, of="rope_inputs", lead=lead, seq=seq, d=d, start=start)
    return Case(id, "apply_rope_backward", params, draw="backward_inputs")


# softmax_backward(x, d_out, axis=-1) -> dx


@conformance("softmax_backward")
@cases(
    *(softmax_case(f"axis{axis}", 30, (3, 4, 5), axis=axis) for axis in (0, 1, -1)),
    softmax_case("long-rows", 31, (3, 300)),
    kernel=[softmax_case("rows-of-4100", 32, (4, 4100))],
)
def test_softmax_backward_matches_the_formula(impl, case):
    expect_gradients(impl, case, " (the softmax's Jacobian, transposed, times d_out)")


@conformance("softmax_backward")
@cases(Case("minus-inf", "softmax_backward", given=dict(x=np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, -np.inf]]),
                                                         d_out=np.array([[1.0, 5.0, -2.0], [3.0, -1.0, 4.0]]))))
def test_softmax_backward_gives_minus_inf_entries_zero_gradient(impl, case):
    # an entry of weight 0 moves no output: its gradient is 0 whatever d_out says there
    expect_gradients(impl, case, " with -inf logits")


# scaled_dot_product_attention_backward(q, k, v, d_out, mask=None) -> (dq, dk, dv)


def sdpa_kernel_cases(declaration):
    """Head widths 32, 64, 128 (256 where declared), lengths around the usual tiles, each mask; 1,000 positions causal."""
    found = []
    for d in kernel_head_dims(declaration):
        for length in (1, 63, 64, 65, 129, 257):
            for mask in (None, "causal", "padding"):
                found.append(sdpa_case(f"d{d}-len{length}-{mask or 'no-mask'}", 64, (2, 4), length, length, d, d, mask,
                                       "dominant", pinned=("d_k",)))
        found.append(sdpa_case(f"d{d}-queries63-keys129-padding", 65, (2, 4), 63, 129, d, d, "padding", "dominant",
                               pinned=("d_k",)))
        found.append(sdpa_case(f"d{d}-len1000-causal", 66, (1, 2), 1000, 1000, d, d, "causal", "dominant",
                               pinned=("d_k",)))
    return found


@conformance("scaled_dot_product_attention_backward")
@cases(
    sdpa_case("3d", 40, (2,), 3, 5, 4, 6),
    sdpa_case("4d-heads", 40, (2, 3), 4, 6, 8, 5),
    sdpa_case("square", 40, (2, 2), 5, 5, 8, 8),
    sdpa_case("one-query", 40, (2, 2), 1, 7, 8, 8),
    sdpa_case("padding", 40, (2, 2), 5, 6, 4, 4, mask="padding"),
    sdpa_case("causal", 40, (2, 2), 6, 6, 4, 4, mask="causal"),
    sdpa_case("crosses-tiles", 40, (2, 2), 100, 130, 16, 16, mask="padding", style="dominant"),
    kernel=sdpa_kernel_cases,
)
def test_sdpa_backward_matches_the_formula(impl, case):
    expect_gradients(impl, case)


@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("scale", 41, (2,), 4, 5, 16, 4))
def test_sdpa_backward_scales_dq_and_dk_by_one_over_sqrt_d_k(impl, case):
    # the scores are q @ k^T / sqrt(d_k): the gradients of q and k carry the same factor
    expect_gradients(impl, case)


@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("shared-keys-and-values", 42, (2, 3), 4, 5, 8, 6, shared_kv=True))
def test_sdpa_backward_sums_the_gradients_of_broadcast_inputs(impl, case):
    # k and v (2, 1, 5, d) serve the 3 heads of q (2, 3, 4, d): their gradients are the heads' sum, in their own shape
    expect_gradients(impl, case, " of a broadcast input, summed to its shape")


@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("padding", 43, (3, 2), 4, 6, 4, 4, mask="padding"),
       sdpa_case("padding-crosses-tiles", 43, (3, 2), 70, 130, 16, 16, mask="padding", style="dominant"))
def test_sdpa_backward_gives_masked_keys_zero_gradient(impl, case):
    # a key hidden from every query moves no output: its dk and dv are 0
    call = Call.of(case, impl.dtype)
    result = call.run(impl)
    hidden = np.asarray(call.named()["mask"], dtype=np.float64)[..., 0, :] == -np.inf  # (batch, 1, Lk): every query's
    for index, name, argument in ((1, "dk", "k"), (2, "dv", "v")):
        where = np.broadcast_to(hidden[..., None], call.named()[argument].shape)

        def observe(result, index=index, where=where):
            return np.asarray(result[index], dtype=np.float64)[where]

        check(impl, call, f"{name} of the {np.count_nonzero(where)} numbers of masked keys", observe,
              expected=np.zeros(np.count_nonzero(where)), result=result)


@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("4d-heads", 44, (2, 2), 5, 6, 4, 4), sdpa_case("padding", 44, (3, 2), 5, 6, 4, 4, mask="padding"))
def test_sdpa_backward_keeps_batch_rows_apart(impl, case):
    # d_out changed in batch rows 1 and up only: the gradients of row 0 stay what they were
    first = Call.of(case, impl.dtype)
    before = first.run(impl)
    call = other_rows_changed(first)
    for name, observe in gradients(call.capability):
        row = np.asarray(observe(before), dtype=np.float64)[0]
        check(impl, call, f"{name} of batch row 0 when only the other rows' d_out changed (expected: its value "
              "before the change)", lambda result, observe=observe: np.asarray(observe(result))[0], expected=row)


def other_rows_changed(call):
    """The call with d_out changed in every batch row but the first (the inputs' first axis)."""
    named = dict(call.named())
    changed = np.asarray(named["d_out"], dtype=np.float64)
    changed[1:] = -2.0 * changed[1:] + 1.0
    named["d_out"] = changed.astype(named["d_out"].dtype)
    return call.replaced(named)


@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("ones", 45, (2, 2), 4, 6, 4, 3, mask="padding", d_out="ones"))
def test_sdpa_backward_dv_of_ones_is_the_column_sum_of_the_weights(impl, case):
    # out = weights @ v, so with d_out = 1 every feature of dv[j] is sum_i weights[i, j]
    call = Call.of(case, impl.dtype)
    q, k, v, _, mask = call.args
    _, weights = EXACT.scaled_dot_product_attention(*(np.asarray(a, dtype=np.float64) for a in (q, k, v)), mask)
    expected = np.broadcast_to(weights.sum(axis=-2)[..., None], weights.shape[:-2] + v.shape[-2:])
    check(impl, call, "dv with d_out = 1 (the column sums of the weights)", reader(2), expected=expected)


# The layers: (dx, d_params), and cross-attention's (dx, d_context, d_params)


def layer_kernel_cases(capability, **options):
    """Head widths 64 and 128 (8 and 4 heads of d_model 512), lengths either side of a tile, causal or not."""

    def chosen(declaration):
        found = []
        for n_heads in (8, 4):
            for seq in (63, 129):
                found.append(layer_case(f"d_model512-heads{n_heads}-len{seq}", capability, 67, 1, seq, 512, n_heads,
                                        pinned=("d_model",), style="dominant", **options))
        return found

    return chosen


@conformance("multi_head_attention_backward")
@cases(
    layer_case("plain", "multi_head_attention_backward", 50, 2, 5, 16, 4),
    layer_case("padding", "multi_head_attention_backward", 50, 3, 6, 16, 2, mask="padding"),
    layer_case("crosses-tiles", "multi_head_attention_backward", 50, 2, 70, 32, 2, style="dominant", mask="causal"),
    kernel=layer_kernel_cases("multi_head_attention_backward", mask="padding"),
)
def test_multi_head_backward_matches_the_formula(impl, case):
    expect_gradients(impl, case)


@conformance("multi_head_attention_backward")
@cases(layer_case("padding", "multi_head_attention_backward", 51, 3, 6, 16, 2, mask="padding"))
def test_multi_head_backward_keeps_batch_rows_apart(impl, case):
    # dx of batch row 0 depends on row 0's d_out only (the weights' gradients sum over the rows)
    first = Call.of(case, impl.dtype)
    before = np.asarray(first.run(impl)[0], dtype=np.float64)
    check(impl, other_rows_changed(first), "dx of batch row 0 when only the other rows' d_out changed (expected: its "
          "value before the change)", lambda result: np.asarray(result[0])[0], expected=before[0])


@conformance("causal_self_attention_backward")
@cases(
    layer_case("plain", "causal_self_attention_backward", 52, 2, 6, 16, 4),
    layer_case("crosses-tiles", "causal_self_attention_backward", 52, 2, 70, 32, 2, style="dominant"),
    kernel=layer_kernel_cases("causal_self_attention_backward"),
)
def test_causal_self_attention_backward_matches_the_formula(impl, case):
    expect_gradients(impl, case)


@conformance("grouped_query_attention_backward")
@cases(
    layer_case("two-groups", "grouped_query_attention_backward", 53, 2, 5, 16, 4, n_kv_heads=2),
    layer_case("one-kv-head", "grouped_query_attention_backward", 53, 2, 5, 16, 4, n_kv_heads=1, mask="padding"),
    layer_case("as-many-kv-heads", "grouped_query_attention_backward", 53, 2, 5, 16, 4, n_kv_heads=4),
    layer_case("causal", "grouped_query_attention_backward", 53, 2, 6, 32, 8, n_kv_heads=2, mask="causal"),
    kernel=layer_kernel_cases("grouped_query_attention_backward", n_kv_heads=2, mask="causal"),
)
def test_grouped_query_backward_sums_each_kv_heads_gradient_over_its_group(impl, case):
    # a key/value head serves n_heads // n_kv_heads query heads: its gradient is the sum of theirs
    expect_gradients(impl, case)


@conformance("cross_attention_backward")
@cases(
    layer_case("longer-context", "cross_attention_backward", 54, 2, 4, 16, 4, context=7),
    layer_case("padding", "cross_attention_backward", 54, 3, 5, 16, 2, context=6, mask="padding"),
    layer_case("shorter-context", "cross_attention_backward", 54, 2, 6, 16, 2, context=3),
    kernel=layer_kernel_cases("cross_attention_backward", context=200, mask="padding"),
)
def test_cross_attention_backward_matches_the_formula(impl, case):
    expect_gradients(impl, case)


# apply_rope_backward(x, positions, d_out) -> dx


@conformance("apply_rope_backward")
@cases(
    rope_case("from-0", 55, (2,), 6, 8),
    rope_case("heads", 55, (2, 3), 5, 16, start=7),
    rope_case("far", 55, (1,), 16, 64, start=4000),
)
def test_apply_rope_backward_turns_d_out_back(impl, case):
    # the rotary embedding turns each pair by +angle: its gradient turns d_out by -angle
    expect_gradients(impl, case)


def expect_reference(impl, case):
    """Each gradient of the case's call against the kit's reference implementation's."""
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    result, expected = call.run(impl), call.on(reference)
    for name, observe in gradients(call.capability):
        check(impl, call, f"{name} vs reference", observe, expected=observe(expected), result=result)


@pytest.mark.differential
@conformance("scaled_dot_product_attention_backward")
@cases(sdpa_case("reference", 46, (3, 2), 6, 7, 8, 4, mask="padding"))
def test_sdpa_backward_matches_reference(impl, case):
    expect_reference(impl, case)


@pytest.mark.differential
@conformance("grouped_query_attention_backward")
@cases(layer_case("reference", "grouped_query_attention_backward", 56, 2, 6, 16, 4, n_kv_heads=2, mask="padding"))
def test_grouped_query_backward_matches_reference(impl, case):
    expect_reference(impl, case)
