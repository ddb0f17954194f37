"""The adapters pass every check of what they provide, at their own precision, gradients included
(derived by autograd): the PyTorch adapter the whole of contract v3 in every dtype, each forced SDPA backend within its declaration,
flex_attention's lse and packed batches, JAX at float32 and bfloat16, and the README's worked example."""

import importlib.util

import pytest

from attention_conformance.declaration import Declaration
from tools.kill_matrix import OPTIONS, ROOT, run_suite

# (framework, adapter, dtype): where each adapter conforms. jax.nn.dot_product_attention
# computes in float32 whatever its inputs, and XLA on the CPU has no float16 dot product.
CONFORMING = [
    ("torch", "attention_conformance.adapters.torch_attention", "float64"),
    ("torch", "attention_conformance.adapters.torch_attention", "float32"),
    ("torch", "attention_conformance.adapters.torch_attention", "float16"),
    ("torch", "attention_conformance.adapters.torch_attention", "bfloat16"),
    ("torch", "attention_conformance.adapters.torch_sdpa:math", "float64"),
    ("torch", "attention_conformance.adapters.torch_sdpa:math", "bfloat16"),
    ("torch", "attention_conformance.adapters.torch_sdpa:flash", "bfloat16"),  # PyTorch's CPU flash kernel
    ("torch", "attention_conformance.adapters.torch_sdpa:flash", "float16"),
    ("torch", "attention_conformance.adapters.torch_flex", "float32"),  # flex_attention: lse and packed batches
    ("torch", "attention_conformance.adapters.torch_flex", "bfloat16"),
    ("jax", "attention_conformance.adapters.jax_attention", "float32"),
    ("jax", "attention_conformance.adapters.jax_attention", "bfloat16"),
]
ALLOWED_SKIPS = ("does not provide", "ruled out by CONFORMANCE")
BACKENDS_ON_MATH = """
from attention_conformance.adapters.torch_sdpa import DECLARATIONS, ForcedBackend

# the adapter's code and each backend's declaration, on the math kernel: what a CPU can check
efficient = ForcedBackend("math", DECLARATIONS["efficient"])
cudnn = ForcedBackend("math", DECLARATIONS["cudnn"])
"""

# Attention written in plain torch, as a from-scratch model does, its gradients by autograd (derive)
PLAIN_TORCH = """
import math

import torch

from attention_conformance.adapters.torch_attention import derive, to_torch


def _attention(q, k, v, mask=None):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:  # the suite's numpy mask, or the layer's own tensor
        scores = scores + (mask if torch.is_tensor(mask) else to_torch(mask)).to(scores.dtype)
    return torch.softmax(scores, dim=-1) @ v


def _causal_self_attention(x, params, n_heads):
    batch, seq, d_model = x.shape
    q, k, v = ((x @ params[name]).view(batch, seq, n_heads, -1).transpose(1, 2) for name in ("w_q", "w_k", "w_v"))
    mask = torch.full((seq, seq), -math.inf).triu(1)
    return _attention(q, k, v, mask).transpose(1, 2).reshape(batch, seq, d_model) @ params["w_o"]


scaled_dot_product_attention, scaled_dot_product_attention_backward = derive(_attention, "scaled_dot_product_attention")
causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")
"""


def require(framework):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed: pip install 'attention-conformance[{framework}]'")


@pytest.mark.parametrize("framework, adapter, dtype", CONFORMING, ids=lambda value: str(value).rpartition(".")[2])
def test_the_adapter_passes_every_check_of_what_it_provides(framework, adapter, dtype):
    require(framework)
    run = run_suite(adapter, f"--impl-dtype={dtype}", *OPTIONS)
    assert run.returncode == 0, run.output[-4000:]
    statuses = [outcome.status for outcome in run.outcomes.values()]
    assert statuses.count("passed") >= 16, run.output[-4000:]  # the flex adapter's two callables: 16 checks
    skips = [outcome.message for outcome in run.outcomes.values() if outcome.status == "skipped"]
    assert all(any(reason in message for reason in ALLOWED_SKIPS) for message in skips), skips


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_plain_torch_attention_and_its_autograd_gradients_pass(dtype, tmp_path):
    require("torch")
    (tmp_path / "plain_torch.py").write_text(PLAIN_TORCH)
    run = run_suite("plain_torch", f"--impl-dtype={dtype}", *OPTIONS, cwd=tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    assert conforming(run) == {"scaled_dot_product_attention", "causal_self_attention",
                               "scaled_dot_product_attention_backward", "causal_self_attention_backward"}


def test_the_torch_adapter_provides_the_whole_of_contract_v3():
    require("torch")
    run = run_suite("attention_conformance.adapters.torch_attention", *OPTIONS)
    assert run.returncode == 0 and all(outcome.status == "passed" for outcome in run.outcomes.values()), run.output[-3000:]


def test_every_backend_declaration_is_valid_and_keeps_to_what_its_kernel_takes():
    require("torch")
    from attention_conformance.adapters.torch_sdpa import DECLARATIONS

    for backend, given in DECLARATIONS.items():
        declaration = Declaration.parse(given)
        assert declaration.weights is False, backend  # F.scaled_dot_product_attention returns no weights
        if backend != "math":
            widths = declaration.head_dims
            assert declaration.value_dim_equals_key_dim and all(width % 8 == 0 for width in widths.choices())
            assert 4 not in widths and 12 not in widths and 264 not in widths and widths.nearest(100) == 96
            assert "float64" not in declaration.dtypes


@pytest.mark.parametrize("backend, dtype", [("efficient", "float32"), ("efficient", "bfloat16"), ("cudnn", "float16")])
def test_each_backend_declaration_draws_cases_the_adapter_handles(backend, dtype, tmp_path):
    require("torch")
    (tmp_path / "on_math.py").write_text(BACKENDS_ON_MATH)
    run = run_suite(f"on_math:{backend}", f"--impl-dtype={dtype}", *OPTIONS, cwd=tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    passed = [test for test, outcome in run.outcomes.items() if outcome.status == "passed"]
    assert len(passed) > 25 and any("sdpa" in test for test in passed), run.output[-3000:]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_readme_example_checks_an_adopters_own_pytorch_layer(dtype):
    require("torch")
    run = run_suite("conformance_adapter", f"--impl-dtype={dtype}", *OPTIONS, cwd=ROOT / "examples" / "pytorch")
    assert run.returncode == 0, run.output[-4000:]
    assert conforming(run) == {"causal_self_attention", "causal_self_attention_backward", "decode_step",
                               "decode_chunk"}, run.output[-3000:]


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_the_llama_example_checks_hugging_faces_own_attention_and_rotary_embedding(dtype):
    require("transformers")
    run = run_suite("conformance_adapter", f"--impl-dtype={dtype}", *OPTIONS, cwd=ROOT / "examples" / "llama")
    assert run.returncode == 0, run.output[-4000:]
    provided = {"grouped_query_attention", "apply_rope", "causal_self_attention", "multi_head_attention"}
    assert conforming(run) == provided | {f"{capability}_backward" for capability in provided}, run.output[-3000:]


def conforming(run):
    """The callables of which at least one check passed and none failed."""
    passed = {outcome.capability for outcome in run.outcomes.values() if outcome.status == "passed"}
    return passed - {outcome.capability for outcome in run.outcomes.values() if outcome.status == "failed"}


def test_the_llama_example_declares_that_it_computes_in_float32():
    require("transformers")
    run = run_suite("conformance_adapter", "--impl-dtype=float64", *OPTIONS, cwd=ROOT / "examples" / "llama")
    lines = [line.split() for line in run.output.splitlines()]
    assert ["grouped_query_attention", "not", "tested:", "CONFORMANCE", "rules", "out", "all"] in [
        line[:7] for line in lines], run.output[-3000:]


# Where each framework's float32 gradients stray furthest from the plain backward formulas: PyTorch's
# CPU flash kernel recomputes the weights from a log-sum-exp its forward rounded another way (the
# padded heads of 128, the layers' w_v at 4 heads of d_model 512); autograd through plain float32
# code magnifies the last bit of weights near 1 (1,000 causal positions). Each failed before the
# float32 gradients had the recomputed backward among their plain formulas and GRADIENT_MULTIPLE.
FLOAT32_GRADIENTS = [
    ("attention_conformance.adapters.torch_attention",
     "d128-len63-padding or multi_head_backward_matches_the_formula and d_model512-heads4-len129"),
    ("attention_conformance.adapters.torch_sdpa:math", "d32-len1000-causal"),
    ("attention_conformance.adapters.jax_attention", "d32-len1000-causal or d64-len129-no-mask"),
]


@pytest.mark.parametrize("adapter, selected", FLOAT32_GRADIENTS, ids=lambda value: str(value).rpartition(".")[2][:40])
def test_float32_gradients_of_the_frameworks_pass_the_kernel_profile(adapter, selected):
    require(adapter.split(".")[-1].split("_")[0])
    run = run_suite(adapter, "--impl-dtype=float32", "--impl-profile=kernel", "-k", f"backward and ({selected})", *OPTIONS)
    assert run.returncode == 0, run.output[-4000:]
    passed = [name for name, outcome in run.outcomes.items() if outcome.status == "passed"]
    assert passed and all("backward" in name for name in passed), run.output[-4000:]
