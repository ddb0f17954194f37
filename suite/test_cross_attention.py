"""cross_attention(x, context, params, n_heads, mask=None): queries from x, keys and values from the context."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, cases, kernel_head_dims
from attention_conformance.checks import check

pytestmark = pytest.mark.conformance("cross_attention")


def cross(id, seed, batch, seq, context, d_model, n_heads, pinned=(), **options):
    params = dict(seed=seed, batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, context=context, **options)
    return Case(id, "cross_attention", params, draw="layer_inputs", pinned=pinned)


def kernel_cases(declaration):
    return [cross(f"d{d}-queries{lq}-context{lk}", 83, 8, lq, lk, 2 * d, 2, pinned=("d_model",), style="dominant")
            for d in kernel_head_dims(declaration) for lq, lk in ((1, 257), (65, 129), (129, 63), (257, 255))]


@cases(
    Case("one-context-position", "cross_attention", given=dict(
        x=np.array([[[1.0, 0.0], [0.0, 1.0]]]), context=np.array([[[3.0, 4.0]]]),
        params={name: np.eye(2) for name in ("w_q", "w_k", "w_v", "w_o")}, n_heads=1, mask=None)),
)
def test_cross_attention_known_answer_every_query_reads_the_one_context_position(impl, case):
    # one context position: both queries give it weight 1, whatever x: the output is context @ w_v @ w_o
    check(impl, Call.of(case, impl.dtype), "output", expected=[[[3.0, 4.0], [3.0, 4.0]]])


@cases(
    cross("fewer-queries", 80, 2, 3, 5, 8, 2),
    cross("one-query", 80, 2, 1, 7, 8, 2),
    cross("more-queries", 80, 2, 9, 4, 12, 3),
    cross("same-length", 80, 2, 5, 5, 8, 2),
    cross("context-crosses-tiles", 80, 2, 20, 130, 32, 2, style="dominant"),
    kernel=kernel_cases,
)
def test_cross_attention_takes_keys_and_values_from_the_context(impl, case):
    check(impl, Call.of(case, impl.dtype), "output")


@cases(
    cross("padding", 81, 3, 4, 6, 8, 2, mask="padding"),
    cross("padding-crosses-tiles", 81, 3, 10, 100, 32, 2, mask="padding", style="dominant"),
)
def test_cross_attention_applies_a_padding_mask_over_the_context(impl, case):
    check(impl, Call.of(case, impl.dtype), "output with a padding mask over the context")


@pytest.mark.differential
@cases(cross("reference", 82, 2, 5, 7, 16, 4, mask="padding"))
def test_cross_attention_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "output vs reference", expected=call.on(reference))
