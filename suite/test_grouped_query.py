"""grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None): query head h attends with
key/value head h // (n_heads // n_kv_heads)."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, cases, kernel_head_dims
from attention_conformance.checks import check

pytestmark = pytest.mark.conformance("grouped_query_attention")

# (n_heads, n_kv_heads): multi-head, groups of 2 and 3, multi-query
GROUPS = [(4, 4), (4, 2), (6, 3), (8, 2), (4, 1)]


def gqa(id, seed, batch, seq, d_k, n_heads, n_kv_heads, **options):
    params = dict(seed=seed, batch=batch, seq=seq, d_model=n_heads * d_k, n_heads=n_heads, n_kv_heads=n_kv_heads,
                  **options)
    return Case(id, "grouped_query_attention", params, draw="layer_inputs")


def kernel_cases(declaration):
    return [gqa(f"d{d}-len{length}", 73, 4, length, d, 4, 2, style="dominant")
            for d in kernel_head_dims(declaration) for length in KERNEL_LENGTHS if length > 1]


@cases(
    Case("one-position", "grouped_query_attention", given=dict(
        x=np.array([[[1.0, 0.0, 0.0, 0.0]]]),
        params={"w_q": np.eye(4), "w_k": np.ones((4, 2)), "w_v": np.array([[1.0, 2.0], [0, 0], [0, 0], [0, 0]]),
                "w_o": np.eye(4)},
        n_heads=4, n_kv_heads=2, mask=None)),
)
def test_gqa_known_answer_heads_0_and_1_share_key_value_head_0(impl, case):
    # d_k = 1 and one position: every query head gives its only key weight 1, so head h outputs the
    # value of key/value head h // 2; x @ w_v = [1, 2] -> heads [1, 1, 2, 2] -> through w_o = I
    check(impl, Call.of(case, impl.dtype), "output", expected=[[[1.0, 1.0, 2.0, 2.0]]])


@cases(
    *(gqa(f"{h}-heads-{kv}-kv", 70, 2, 5, 4, h, kv) for h, kv in GROUPS),
    gqa("crosses-tiles", 70, 2, 100, 16, 4, 2, style="dominant"),
    kernel=kernel_cases,
)
def test_gqa_query_heads_share_their_groups_key_value_head(impl, case):
    check(impl, Call.of(case, impl.dtype), "output")


@cases(gqa("padding", 71, 3, 6, 4, 4, 2, mask="padding"), gqa("causal", 71, 2, 6, 4, 6, 2, mask="causal"))
def test_gqa_applies_its_mask_to_every_head(impl, case):
    check(impl, Call.of(case, impl.dtype), "output with a mask")


@pytest.mark.differential
@cases(gqa("reference", 72, 2, 7, 8, 8, 2))
def test_gqa_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "output vs reference", expected=call.on(reference))
