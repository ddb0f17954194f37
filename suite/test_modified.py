"""modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None): the score
modifiers serving kernels take (Gemma 2's soft-capping, ALiBi's distance bias, gpt-oss's attention
sinks), in FlashAttention 2's order: scale, cap, ALiBi, mask; the sink in the softmax's denominator."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check

modified = pytest.mark.conformance("modified_attention")
# ALiBi's slopes for 6 heads as given (not a power of two: the contract takes the slopes, not the rule)
SLOPES = np.array([0.5, 0.25, 0.125, 0.0625, 0.7071, 0.3536])
SINKS = np.array([-1.0, 0.0, 2.0, 9.0, 0.5, 4.0])  # head 3's sink outweighs its keys


def modified_case(id, seed, batch, heads, lq, lk, d_k, d_v, mask=None, style="normal", **modifiers):
    params = dict(seed=seed, batch=batch, n_heads=heads[0], n_kv_heads=heads[1], lq=lq, lk=lk, d_k=d_k, d_v=d_v,
                  mask=mask, style=style)
    return Case(id, "modified_attention", params, draw="modified_inputs", kwargs=modifiers)


def output(impl, case, what="output"):
    check(impl, Call.of(case, impl.dtype), what)


@modified
@cases(modified_case("padding", 120, 2, (6, 3), 4, 6, 8, 8, "padding"),
       modified_case("causal", 120, 2, (4, 4), 5, 5, 8, 6, "causal", "dominant"))
def test_modified_without_modifiers_is_attention(impl, case):
    # no modifier: scaled dot-product attention, query head h over key/value head h // (n_heads // n_kv_heads)
    output(impl, case)


@modified
@cases(modified_case("cap-5", 121, 2, (4, 2), 4, 7, 16, 8, "causal", "dominant", softcap=5.0),
       modified_case("cap-1.5", 121, 2, (4, 4), 3, 5, 8, 8, softcap=1.5))
def test_modified_soft_caps_the_scaled_scores(impl, case):
    # s = softcap * tanh(s / softcap) on the scaled scores: the dominant scores (about 8) come down under 5
    output(impl, case)


@modified
@cases(modified_case("slopes-per-head", 122, 2, (6, 3), 3, 7, 8, 8, "causal", alibi_slopes=SLOPES),
       modified_case("slopes-per-row-and-head", 122, 2, (6, 6), 4, 4, 8, 8,
                     alibi_slopes=np.stack([SLOPES, SLOPES[::-1]])))
def test_modified_alibi_subtracts_the_slope_times_the_distance(impl, case):
    # s -= slope[h] * |i + Lk - Lq - j|: with 3 queries over 7 keys the first sits at key 4
    output(impl, case)


@modified
@cases(modified_case("sinks", 123, 2, (6, 2), 4, 6, 8, 8, "padding", sinks=SINKS),
       modified_case("sinks-no-key-seen", 123, 2, (6, 2), 3, 5, 8, 8, "unseen", sinks=SINKS))
def test_modified_sinks_join_the_denominator_only(impl, case):
    # w = exp(s) / (exp(sinks[h]) + sum_j exp(s)); a query that sees no key gives its whole weight to the sink: 0
    output(impl, case)


@modified
@cases(modified_case("all-three", 124, 2, (6, 3), 4, 9, 16, 8, "causal", "dominant", softcap=5.0,
                     alibi_slopes=SLOPES, sinks=SINKS))
def test_modified_caps_then_biases_then_masks_then_sinks(impl, case):
    # the order matters: a cap after ALiBi, or a sink after the softmax, gives other weights
    output(impl, case)
