"""Kernel scale: a tiled online-softmax kernel of the kit's own (tests/kernels/tiled.py) passes the
default run and the kernel profile, and its classic tile bugs are killed: the 16-wide kernel's by
the default run, the 64-wide kernel's (which declares its limits) by the kernel profile."""

import pytest

from tiled import BUGS
from tools.kill_matrix import OPTIONS, ROOT, run_suite

KERNELS = ROOT / "tests" / "kernels"


def run(impl, *options):
    return run_suite(f"tiled:{impl}", *options, *OPTIONS, cwd=KERNELS)


@pytest.mark.parametrize("kernel, dtype", [("small", "float64"), ("small", "bfloat16"), ("wide", "float32"),
                                           ("wide", "float16")])
def test_a_correct_tiled_kernel_passes_the_default_run(kernel, dtype):
    done = run(kernel, f"--impl-dtype={dtype}")
    assert done.returncode == 0, done.output[-4000:]
    assert sum(outcome.status == "passed" for outcome in done.outcomes.values()) > 30


@pytest.mark.parametrize("kernel, dtype", [("small", "float64"), ("wide", "bfloat16")])
def test_a_correct_tiled_kernel_passes_the_kernel_profile(kernel, dtype):
    done = run(kernel, f"--impl-dtype={dtype}", "--impl-profile=kernel")
    assert done.returncode == 0, done.output[-4000:]
    assert sum(outcome.status == "passed" for outcome in done.outcomes.values()) > 150


def test_the_wide_kernels_declaration_is_honoured_and_reported():
    done = run("wide")
    assert "attention conformance: CONFORMANCE: head_dims=[32, 64, 128], value_dim_equals_key_dim=True, " \
           "masks='causal', weights=False" in done.output
    ruled_out = [outcome for outcome in done.outcomes.values() if outcome.status == "skipped"
                 and outcome.message.startswith("ruled out by CONFORMANCE: masks='causal' does not take")]
    assert ruled_out and "ruled out by CONFORMANCE: masks 3" in done.output, done.output[-3000:]


@pytest.mark.parametrize("bug", BUGS)
def test_each_tile_bug_of_the_16_wide_kernel_is_killed_by_the_default_run(bug):
    done = run(f"small_bugs.{bug}")
    assert done.returncode == 1 and any(outcome.by_a_check for outcome in done.failed().values()), done.output[-3000:]


@pytest.mark.parametrize("bug", BUGS)
def test_each_tile_bug_of_the_64_wide_kernel_is_killed_by_the_kernel_profile(bug):
    done = run(f"wide_bugs.{bug}", "--impl-profile=kernel", "--impl-dtype=bfloat16", "-x")
    assert done.returncode == 1 and any(outcome.by_a_check for outcome in done.failed().values()), done.output[-3000:]


SHORT_SIGHTED = {
    # attends to the first 8 keys only: right for every toy shape the suite once had
    "eight_keys": ("test_attention.py", """
from attention_conformance.reference import scaled_dot_product_attention as right


def scaled_dot_product_attention(q, k, v, mask=None):
    if mask is not None:
        mask = mask[..., :8]
    return right(q, k[..., :8, :], v[..., :8, :], mask)
"""),
    # one head: the output projection is skipped
    "one_head": ("test_multi_head.py", """
from attention_conformance.reference import multi_head_attention as right


def multi_head_attention(x, params, n_heads, mask=None):
    if n_heads == 1:
        return right(x, {**params, "w_o": params["w_o"] * 0 + __import__("numpy").eye(x.shape[-1])}, 1, mask)
    return right(x, params, n_heads, mask)
"""),
}


@pytest.mark.parametrize("name", SHORT_SIGHTED)
def test_the_default_run_reaches_past_toy_shapes(name, tmp_path):
    module, source = SHORT_SIGHTED[name]
    (tmp_path / f"{name}.py").write_text(source)
    done = run_suite(name, *OPTIONS, cwd=tmp_path)
    failed = [test for test in done.failed() if test.startswith(module)]
    assert done.returncode == 1 and failed, done.output[-3000:]
