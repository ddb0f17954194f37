"""The adapters pass every check of what they provide, at their own precision, and the ten
hand-written mutants stay killed when the suite runs in float32."""

import importlib.util

import pytest

from tools.kill_matrix import MUTANTS, ROOT, mutant_names, run_many, run_suite

# (framework, adapter, dtype): where each adapter conforms. jax.nn.dot_product_attention
# computes in float32 whatever its inputs, and XLA on the CPU has no float16 dot product.
CONFORMING = [
    ("torch", "attention_conformance.adapters.torch_attention", "float64"),
    ("torch", "attention_conformance.adapters.torch_attention", "float32"),
    ("torch", "attention_conformance.adapters.torch_attention", "float16"),
    ("torch", "attention_conformance.adapters.torch_attention", "bfloat16"),
    ("jax", "attention_conformance.adapters.jax_attention", "float32"),
    ("jax", "attention_conformance.adapters.jax_attention", "bfloat16"),
]
ALLOWED_SKIPS = ("does not provide", "returns the output alone, without weights")


def require(framework):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed: pip install 'attention-conformance[{framework}]'")


@pytest.mark.parametrize("framework, adapter, dtype", CONFORMING, ids=lambda value: str(value).rpartition(".")[2])
def test_the_adapter_passes_every_check_of_what_it_provides(framework, adapter, dtype):
    require(framework)
    run = run_suite(adapter, f"--impl-dtype={dtype}")
    assert run.returncode == 0, run.output[-4000:]
    statuses = [outcome.status for outcome in run.outcomes.values()]
    assert statuses.count("passed") >= 20, run.output[-4000:]
    skips = [outcome.message for outcome in run.outcomes.values() if outcome.status == "skipped"]
    assert all(any(reason in message for reason in ALLOWED_SKIPS) for message in skips), skips


@pytest.fixture(scope="module")
def float32_runs():
    return run_many([f"{MUTANTS}.{name}" for name in mutant_names()], "--impl-dtype=float32")


def test_every_hand_written_mutant_is_killed_by_a_check_in_float32(float32_runs):
    assert len(float32_runs) == 10
    for impl, run in float32_runs.items():
        assert run.returncode == 1, f"{impl}:\n{run.output[-3000:]}"
        assert any(outcome.by_a_check for outcome in run.failed().values()), f"{impl} only crashed"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_readme_example_checks_an_adopters_own_pytorch_layer(dtype):
    require("torch")
    run = run_suite("conformance_adapter", f"--impl-dtype={dtype}", cwd=ROOT / "examples" / "pytorch")
    assert run.returncode == 0, run.output[-4000:]
    assert "causal_self_attention         conforms" in run.output
    ran = {test for test, outcome in run.outcomes.items() if outcome.status == "passed"}
    assert ran and all(test.startswith("test_multi_head.py::test_causal_self_attention") for test in ran), ran
