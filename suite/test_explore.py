"""--impl-explore=N: N cases per callable drawn at random within the declaration by Hypothesis
(the [explore] extra), a failure shrunk to a minimal case and printed as a reproducible call.

Collected only with --impl-explore (conftest.py), so the default run does not need Hypothesis.
Derandomised when $CI is set; nothing is written into the project (no example database, and
Hypothesis' caches go to a temporary folder). A failure shows the kit's message for the shrunk
case, not the kit's code.
"""

import contextlib
import os
import tempfile

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from attention_conformance.calls import Call, Decoding
from attention_conformance.cases import Case
from attention_conformance.checks import check

LONGEST = 300  # positions drawn at most (less where max_seq_len says so)


def explored(test):
    """Run `test` on as many examples as --impl-explore asks for; a failure becomes an AssertionError
    so that Hypothesis shrinks it (pytest.fail's exception is not one it shrinks)."""

    def run(impl, pytestconfig):
        examples = pytestconfig.getoption("impl_explore")
        options = settings(max_examples=examples, derandomize=bool(os.environ.get("CI")), deadline=None,
                           database=None, suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                           phases=[Phase.explicit, Phase.generate, Phase.shrink])  # no "explain": it would name the kit's lines

        @options
        @given(data=st.data())
        def example(data):
            try:
                test(impl, data)
            except pytest.fail.Exception as failure:
                raise AssertionError(str(failure)) from None

        with kit_storage():
            try:
                example()
            except AssertionError as failure:  # the shrunk case's own message: not the kit's frames, nor Hypothesis' notes
                pytest.fail(str(failure.args[0]), pytrace=False)

    run.__name__, run.__doc__ = test.__name__, test.__doc__
    return run


@contextlib.contextmanager
def kit_storage():
    """Hypothesis keeps caches (its constants, an example database) in `.hypothesis/` of the current
    folder: the adopter's project. Send them to a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="attention-conformance-hypothesis-") as folder:
        set_hypothesis_home_dir(folder)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)


def head_dim(impl, data):
    """A declared width (a rule's up to 256), or any width up to 64 where none is declared."""
    declared = impl.declaration.head_dims
    return data.draw(st.sampled_from(declared.choices(256)) if declared is not None else st.integers(1, 64), label="d_k")


def length(impl, data, label, least=1):
    most = min(LONGEST, impl.declaration.max_seq_len or LONGEST)
    return data.draw(st.integers(least, most), label=label)


def mask(impl, data, square):
    kinds = {"additive": [None, "padding", "causal"], "causal": [None, "causal"], "none": [None]}[impl.declaration.masks]
    return data.draw(st.sampled_from([kind for kind in kinds if kind != "causal" or square]), label="mask")


def run_case(impl, case):
    call = Call.of(case, impl.dtype)
    assume(impl.declaration.rules_out(call.limits(), impl.dtype) is None)
    check(impl, call, "output", lambda result: result[0] if isinstance(result, tuple) else result)


@pytest.mark.conformance("scaled_dot_product_attention")
@explored
def test_sdpa_on_explored_cases(impl, data):
    lq = length(impl, data, "lq")
    lk = lq if data.draw(st.booleans(), label="square") else length(impl, data, "lk")
    d_k = head_dim(impl, data)
    d_v = d_k if impl.declaration.value_dim_equals_key_dim else data.draw(st.integers(1, 64), label="d_v")
    lead = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2), label="lead"))
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), lead=lead, lq=lq, lk=lk, d_k=d_k, d_v=d_v,
                  mask=mask(impl, data, lq == lk), style=data.draw(st.sampled_from(["normal", "dominant"]), label="style"))
    run_case(impl, Case("explored", "scaled_dot_product_attention", params, draw="attention_inputs"))


@pytest.mark.conformance("multi_head_attention")
@explored
def test_multi_head_attention_on_explored_cases(impl, data):
    seq, n_heads = length(impl, data, "seq"), data.draw(st.integers(1, 8), label="n_heads")
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), batch=data.draw(st.integers(1, 3), label="batch"),
                  seq=seq, d_model=n_heads * head_dim(impl, data), n_heads=n_heads, mask=mask(impl, data, True),
                  style=data.draw(st.sampled_from(["normal", "dominant"]), label="style"))
    run_case(impl, Case("explored", "multi_head_attention", params, draw="layer_inputs"))


@pytest.mark.conformance("causal_self_attention")
@explored
def test_causal_self_attention_on_explored_cases(impl, data):
    n_heads = data.draw(st.integers(1, 8), label="n_heads")
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), batch=data.draw(st.integers(1, 3), label="batch"),
                  seq=length(impl, data, "seq"), d_model=n_heads * head_dim(impl, data), n_heads=n_heads,
                  style=data.draw(st.sampled_from(["normal", "dominant"]), label="style"))
    run_case(impl, Case("explored", "causal_self_attention", params, draw="layer_inputs"))


@pytest.mark.conformance("grouped_query_attention")
@explored
def test_grouped_query_attention_on_explored_cases(impl, data):
    n_kv_heads = data.draw(st.integers(1, 4), label="n_kv_heads")
    n_heads = n_kv_heads * data.draw(st.integers(1, 4), label="group")
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), batch=data.draw(st.integers(1, 3), label="batch"),
                  seq=length(impl, data, "seq"), d_model=n_heads * head_dim(impl, data), n_heads=n_heads,
                  n_kv_heads=n_kv_heads, mask=mask(impl, data, True))
    run_case(impl, Case("explored", "grouped_query_attention", params, draw="layer_inputs"))


@pytest.mark.conformance("decode_chunk")
@explored
def test_decode_chunk_on_explored_splits(impl, data):
    seq, n_heads = length(impl, data, "seq", least=1), data.draw(st.integers(1, 4), label="n_heads")
    cuts = data.draw(st.sets(st.integers(1, max(seq - 1, 1)), max_size=6), label="cuts") if seq > 1 else set()
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"), batch=data.draw(st.integers(1, 2), label="batch"),
                  seq=seq, d_model=n_heads * head_dim(impl, data), n_heads=n_heads)
    decoding = Decoding(Case("explored", "decode_chunk", params, draw="layer_inputs", pieces=(0, *sorted(cuts))), impl.dtype)
    assume(impl.declaration.rules_out(decoding.limits(), impl.dtype) is None)
    check(impl, decoding, "outputs of every chunk vs the full causal forward")


@pytest.mark.conformance("apply_rope")
@explored
def test_apply_rope_on_explored_cases(impl, data):
    params = dict(seed=data.draw(st.integers(0, 2**32 - 1), label="seed"),
                  lead=tuple(data.draw(st.lists(st.integers(1, 3), max_size=2), label="lead")),
                  seq=length(impl, data, "seq"), d=2 * data.draw(st.integers(1, 64), label="half"),
                  start=data.draw(st.integers(0, 10000), label="start"))
    run_case(impl, Case("explored", "apply_rope", params, draw="rope_inputs"))
