"""The oracle (attention_conformance.oracle.Formulas) against the contract written element by element
(definitions.py) and against the reference; its plain low-precision twins; and a correct
implementation written unlike both (einsum and loops) passing the whole of contract v2."""

import numpy as np
import pytest

from attention_conformance import definitions, reference
from attention_conformance.cases import attention_inputs, layer_inputs, rope_inputs
from attention_conformance.contract import BACKWARD, SERVING
from attention_conformance.oracle import EXACT, Formulas, plain
from tools.kill_matrix import OPTIONS, ROOT, run_suite


def close(a, b):
    return np.allclose(a, b, rtol=1e-12, atol=1e-12)


def test_the_formulas_agree_with_the_definitions_on_tiny_inputs():
    inputs = attention_inputs(seed=1, dtype="float64", lead=(2,), lq=3, lk=4, d_k=2, d_v=3, mask="padding")
    q, k, v, mask = inputs["q"], inputs["k"], inputs["v"], inputs["mask"]
    for got, want in zip(EXACT.scaled_dot_product_attention(q, k, v, mask), definitions.attention(q, k, v, mask)):
        assert close(got, want)
    layer = layer_inputs(seed=2, dtype="float64", batch=2, seq=4, d_model=8, n_heads=4, n_kv_heads=2)
    assert close(EXACT.grouped_query_attention(layer["x"], layer["params"], 4, 2),
                 definitions.grouped_query_attention(layer["x"], layer["params"], 4, 2))
    assert close(EXACT.causal_self_attention(layer["x"], {**layer["params"], **layer_inputs(
        seed=2, dtype="float64", batch=2, seq=4, d_model=8, n_heads=4)["params"]}, 4),
        definitions.causal_self_attention(layer["x"], layer_inputs(seed=2, dtype="float64", batch=2, seq=4, d_model=8,
                                                                   n_heads=4)["params"], 4))
    crossed = layer_inputs(seed=6, dtype="float64", batch=2, seq=3, d_model=8, n_heads=2, context=5, mask="padding")
    args = (crossed["x"], crossed["context"], crossed["params"], 2, crossed["mask"])
    assert close(EXACT.cross_attention(*args), definitions.cross_attention(*args))
    rotated = rope_inputs(seed=3, dtype="float64", lead=(2,), seq=3, d=6, start=5)
    assert close(EXACT.apply_rope(rotated["x"], rotated["positions"]), definitions.rope(rotated["x"], rotated["positions"]))
    assert np.array_equal(EXACT.create_sliding_window_mask(6, 3), definitions.sliding_window_mask(6, 3))
    assert np.array_equal(EXACT.create_causal_mask(5), definitions.causal_mask(5))
    assert close(EXACT.positional_encoding(7, 6), definitions.positional_encoding(7, 6))


@pytest.mark.parametrize("capability", ["multi_head_attention", "causal_self_attention", "grouped_query_attention",
                                        "cross_attention", "decode_chunk"])
def test_the_formulas_agree_with_the_reference_at_scale(capability):
    options = {"grouped_query_attention": dict(n_kv_heads=2), "cross_attention": dict(context=90)}.get(capability, {})
    inputs = layer_inputs(seed=4, dtype="float64", batch=2, seq=70, d_model=32, n_heads=4, style="dominant", **options)
    args = {"multi_head_attention": ("x", "params", "n_heads"), "causal_self_attention": ("x", "params", "n_heads"),
            "grouped_query_attention": ("x", "params", "n_heads", "n_kv_heads"),
            "cross_attention": ("x", "context", "params", "n_heads"), "decode_chunk": ("x", "params", "n_heads")}[capability]
    values = [inputs[name] for name in args]
    got, want = getattr(EXACT, capability)(*values), getattr(reference, capability)(*values)
    if capability == "decode_chunk":
        got, want = got[0], want[0]
    assert close(got, want)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_plain_low_precision_formulas_err_at_their_dtypes_rounding_and_no_more(dtype):
    inputs = attention_inputs(seed=5, dtype=dtype, lead=(2, 4), lq=300, lk=300, d_k=64, d_v=64)
    args = [a.astype(np.float64) for a in (inputs["q"], inputs["k"], inputs["v"])]
    golden = EXACT.scaled_dot_product_attention(*args)[0]
    unit = {"float16": 2.0**-11, "bfloat16": 2.0**-8}[dtype]
    errors = [np.abs(formulas.scaled_dot_product_attention(*args)[0] - golden).max() for formulas in plain(dtype)]
    assert all(unit * 0.1 < error < 100 * unit for error in errors), errors
    assert Formulas(dtype).round(np.float64(1) + unit / 4) == 1  # rounds to the dtype


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_implementation_written_with_einsum_and_loops_passes_contract_v2(dtype):
    done = run_suite("loop_attention", f"--impl-dtype={dtype}", *OPTIONS, cwd=ROOT / "tests")
    assert done.returncode == 0, done.output[-3000:]
    skipped = {outcome.capability for outcome in done.outcomes.values() if outcome.status == "skipped"}
    assert skipped <= set(BACKWARD) | set(SERVING), "it provides every callable of contract v2"
