"""The backward pass of contract v3: the reference's gradients against central finite differences
of its forward in float64, the formulas' (oracle) against the reference's at scale, and their
plain low-precision twins erring at their dtype's rounding."""

import math

import numpy as np
import pytest

from attention_conformance import measure_gradients, reference
from attention_conformance.calls import Call
from attention_conformance.cases import backward_inputs
from attention_conformance.contract import BACKWARD, DIFFERENTIABLE, SIGNATURES
from attention_conformance.oracle import EXACT, Formulas, plain
from attention_conformance.precision import BUDGET_MULTIPLE, GRADIENT_MULTIPLE, TOLERANCES, allowance
from attention_conformance.gradients import gradients

STEP = 1e-6

# Small inputs of every backward callable: broadcast keys and values, masks, groups, another context length.
SMALL = {
    "softmax_backward": [dict(of="logits", shape=(3, 4, 5), scale=2.0, axis=axis) for axis in (0, 1, -1)],
    "scaled_dot_product_attention_backward": [
        dict(of="attention_inputs", lead=(2, 3), lq=4, lk=5, d_k=6, d_v=3, mask="padding", shared_kv=True),
        dict(of="attention_inputs", lead=(2,), lq=5, lk=5, d_k=4, d_v=4, mask="causal"),
    ],
    "multi_head_attention_backward": [dict(of="layer_inputs", batch=2, seq=5, d_model=8, n_heads=2, mask="padding")],
    "causal_self_attention_backward": [dict(of="layer_inputs", batch=2, seq=5, d_model=8, n_heads=2)],
    "grouped_query_attention_backward": [dict(of="layer_inputs", batch=2, seq=4, d_model=8, n_heads=4, n_kv_heads=2,
                                              mask="causal")],
    "cross_attention_backward": [dict(of="layer_inputs", batch=2, seq=3, d_model=8, n_heads=2, context=6,
                                      mask="padding")],
    "apply_rope_backward": [dict(of="rope_inputs", lead=(2,), seq=4, d=6, start=9)],
}


def call_of(capability, seed, options, dtype="float64"):
    options = dict(options)
    kwargs = {"axis": options.pop("axis")} if "axis" in options else {}
    found = backward_inputs(seed=seed, dtype=dtype, **options)
    args = [found.get(name) for name in SIGNATURES[capability] if name not in kwargs]
    return Call(capability, *args, dtype=dtype, **kwargs)


def numeric_gradient(call, name, key=None):
    """d sum(forward * d_out) / d input, by central differences of the reference's forward."""
    named = call.named()
    forward = getattr(reference, BACKWARD[call.capability])
    arguments = {argument: value for argument, value in named.items() if argument in SIGNATURES[forward.__name__]}
    target = arguments[name] if key is None else arguments[name][key]

    def total():
        out = forward(**arguments)
        out = out[0] if isinstance(out, tuple) else out  # scaled_dot_product_attention: (output, weights)
        return float(np.sum(out * named["d_out"]))

    gradient = np.zeros_like(target)
    for index in np.ndindex(target.shape):
        kept = target[index]
        target[index] = kept + STEP
        above = total()
        target[index] = kept - STEP
        below = total()
        target[index] = kept
        gradient[index] = (above - below) / (2 * STEP)
    return gradient


@pytest.mark.parametrize("capability", list(SMALL))
def test_the_reference_backward_is_the_gradient_of_the_reference_forward(capability):
    for seed, options in enumerate(SMALL[capability]):
        call = call_of(capability, seed, options)
        result = call.on(reference)
        for (name, observe), argument in zip(gradients(capability), _arguments(capability)):
            got = np.asarray(observe(result))
            want = numeric_gradient(call, *argument)
            assert got.shape == want.shape, (name, got.shape, want.shape)
            assert np.allclose(got, want, rtol=1e-6, atol=1e-7), (name, np.abs(got - want).max())


def _arguments(capability):
    """(input name, params key or None) of each gradient, in the order gradients() reads them."""
    found = []
    for name in DIFFERENTIABLE[capability]:
        found += [(name, key) for key in ("w_q", "w_k", "w_v", "w_o")] if name == "params" else [(name, None)]
    return found


@pytest.mark.parametrize("capability", list(SMALL))
def test_the_formulas_backward_agree_with_the_reference_at_scale(capability):
    options = dict(SMALL[capability][0])
    options.update({"of": options["of"]} | _larger(options["of"]))
    call = call_of(capability, 7, options)
    got, want = call.on(EXACT), call.on(reference)
    for name, observe in gradients(capability):
        assert np.allclose(observe(got), observe(want), rtol=1e-10, atol=1e-12), name


def _larger(builder):
    return {"attention_inputs": dict(lq=70, lk=90, d_k=16, d_v=16, style="dominant"),
            "layer_inputs": dict(seq=40, d_model=32, style="dominant"), "logits": dict(shape=(3, 300)),
            "rope_inputs": dict(seq=50, d=32, start=4000)}[builder]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_the_plain_backward_formulas_err_at_their_dtypes_rounding(dtype):
    # relative to the largest gradient: a few hundred roundings at most, and more than none
    unit = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}[dtype]
    options = dict(of="layer_inputs", batch=2, seq=64, d_model=64, n_heads=4, n_kv_heads=2, mask="causal")
    call = call_of("grouped_query_attention_backward", 8, options, dtype)
    want = call.on(EXACT)
    for formulas in plain(dtype, call.capability):  # in float32, the weights recomputed from the lse too
        got = call.on(formulas)
        for name, observe in gradients(call.capability):
            error = np.abs(np.asarray(observe(got)) - observe(want)).max() / np.abs(observe(want)).max()
            assert unit / 4 < error < 300 * unit, (name, formulas.recomputes, error / unit)


def test_float32_gradients_alone_take_the_recomputed_backward_and_the_gradient_multiple():
    # the flash kernels' way in float32 gradients only: below float32 the plain formulas hold the scores in the dtype
    assert [f.recomputes for f in plain("float32", "scaled_dot_product_attention_backward")] == [False, False, True, True]
    for dtype, capability in (("float32", "scaled_dot_product_attention"), ("bfloat16", "softmax_backward")):
        assert not any(f.recomputes for f in plain(dtype, capability))
    assert allowance("float32", "cross_attention_backward").multiple == GRADIENT_MULTIPLE > BUDGET_MULTIPLE
    assert allowance("float32", "cross_attention").multiple == BUDGET_MULTIPLE
    assert allowance("float16", "cross_attention_backward") == TOLERANCES["float16"]


def test_the_recomputed_weights_carry_both_roundings_of_the_scores():
    # PyTorch's CPU flash kernel at d_k 128: its dq misses the forward's weights' backward 2.6 times (measured)
    options = dict(of="attention_inputs", lead=(2, 4), lq=63, lk=63, d_k=128, d_v=128, mask="padding", style="dominant")
    call = call_of("scaled_dot_product_attention_backward", 64, options, "float32")
    exact = call.on(EXACT)[0]
    kept, recomputed = (np.abs(call.on(Formulas("float32", recomputes=flag))[0] - exact).max() for flag in (False, True))
    assert 1.5 * kept < recomputed < 10 * kept, (kept, recomputed)


def test_the_gradient_instruments_measure_a_factor_a_broadcast_shape_and_gradient_on_masked_keys():
    call = call_of("scaled_dot_product_attention_backward", 9, SMALL["scaled_dot_product_attention_backward"][0])
    d_q, d_k, d_v = call.on(EXACT)
    allowed = np.full(d_q.shape, 1e-10)
    (found,) = measure_gradients.findings(call, math.sqrt(6) * d_q, d_q, allowed)  # d_k = 6
    assert found.titles == ("the backward leaves out the scores' factor 1/sqrt(d_k)",) and found.whole
    (found,) = measure_gradients.findings(call, -d_q, d_q, allowed)
    assert found.titles == ("the gradient has its sign flipped",)
    (found,) = measure_gradients.findings(call, 1.5 * d_q, d_q, allowed)
    assert found.titles == () and found.data["factor"] == pytest.approx(1.5)
    # k (2, 1, 5, 6) shared by 3 heads: its gradient at the broadcast shape, a third in each head
    spread = np.broadcast_to(d_k / 3, (2, 3, 5, 6))
    (found,) = measure_gradients.findings(call, spread, d_k, np.full(d_k.shape, 1e-10))
    assert found.titles == ("the gradient of a broadcast input is not summed back to its shape",)
    assert measure_gradients.findings(call, spread + 1.0, d_k, np.full(d_k.shape, 1e-10)) == []
    # the padding mask hides batch row 1's last 2 keys from every query: dv there must be 0
    leaked = d_v.copy()
    leaked[1, :, -1] = 1.0
    found = measure_gradients.findings(call, leaked, d_v, np.full(d_v.shape, 1e-10))
    assert [finding.titles for finding in found] == [("gradient reaches keys the mask hides",)]
    assert found[0].data == {"rows": 1} and not found[0].whole
