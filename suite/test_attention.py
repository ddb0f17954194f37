"""scaled_dot_product_attention(q, k, v, mask=None) -> (output, weights), or output alone."""

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, cases, kernel_head_dims
from attention_conformance.checks import check, fail

pytestmark = pytest.mark.conformance("scaled_dot_product_attention")


def sdpa(id, seed, lead, lq, lk, d_k, d_v, mask=None, style="normal", pinned=()):
    params = dict(seed=seed, lead=lead, lq=lq, lk=lk, d_k=d_k, d_v=d_v, mask=mask, style=style)
    return Case(id, "scaled_dot_product_attention", params, draw="attention_inputs", pinned=pinned)


def output(result):
    """The output, whether the implementation returns (output, weights) or the output alone."""
    return result[0] if isinstance(result, tuple) and len(result) == 2 else result


def weights(result):
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError("CONFORMANCE declares weights=True, but the call returned the output alone, not (output, weights)")
    return result[1]


def returned(impl, call, what="output"):
    """The implementation's result for `call`; a tuple fails where CONFORMANCE promises the output alone."""
    __tracebackhide__ = True
    result = call.run(impl)
    if impl.declaration.weights is False and isinstance(result, tuple):
        problem = (f"CONFORMANCE declares weights=False (the output alone), but the call returned a tuple of "
                   f"{len(result)} items: return the output alone, or declare weights=True if it returns "
                   "(output, weights)")
        fail(call, what, [problem], failure="not an array", reproduce=call.snippet(impl.name))
    return result


def attend(impl, case, what="output"):
    """Check the output of the case's call, then its weights when it returns them (the contract
    lets a fused kernel return the output alone; CONFORMANCE's weights=True promises them)."""
    call = Call.of(case, impl.dtype)
    result = returned(impl, call, what)
    check(impl, call, what, output, result=result)
    with_weights = isinstance(result, tuple) and len(result) == 2
    if with_weights or impl.declaration.weights:
        check(impl, call, what.replace("output", "weights"), weights, result=result)


def kernel_cases(declaration):
    """Head widths 32, 64, 128 (256 where declared), lengths around the usual tiles, with each
    mask, batch x heads of 16; queries and keys of different lengths; 1,000 and 4,100 keys."""
    found = []
    for d in kernel_head_dims(declaration):
        for length in KERNEL_LENGTHS:
            for mask in (None, "causal", "padding"):
                found.append(sdpa(f"d{d}-len{length}-{mask or 'no-mask'}", 60, (2, 8), length, length, d, d, mask,
                                  "dominant", ("d_k",)))
        for lq, lk in ((1, 257), (63, 129), (257, 65), (128, 255)):
            for mask in (None, "padding"):
                found.append(sdpa(f"d{d}-queries{lq}-keys{lk}-{mask or 'no-mask'}", 61, (2, 8), lq, lk, d, d, mask,
                                  "dominant", ("d_k",)))
        found.append(sdpa(f"d{d}-len1000-causal", 62, (2, 8), 1000, 1000, d, d, "causal", "dominant", ("d_k",)))
        found.append(sdpa(f"d{d}-len4100", 63, (1, 1), 4100, 4100, d, d, None, "dominant", ("d_k",)))
    return found


@cases(
    sdpa("3d", 10, (2,), 3, 5, 4, 6),
    sdpa("4d-heads", 10, (2, 3), 4, 6, 8, 5),
    sdpa("one-query", 10, (2,), 1, 7, 8, 8),
    sdpa("more-queries-than-keys", 10, (2,), 9, 4, 4, 4),
)
def test_sdpa_output_and_weights_have_the_contract_shapes(impl, case):
    attend(impl, case)


@cases(
    sdpa("3d", 11, (2,), 3, 5, 4, 6),
    sdpa("4d-heads", 11, (2, 3), 4, 6, 8, 5),
    sdpa("one-head", 11, (2, 1), 5, 5, 8, 8),
    sdpa("one-query", 11, (2, 2), 1, 70, 16, 16),
    sdpa("more-queries-than-keys", 11, (2,), 9, 4, 4, 4),
    sdpa("crosses-tiles", 11, (2, 2), 100, 130, 16, 16, style="dominant"),
    kernel=kernel_cases,
)
def test_sdpa_matches_the_formula(impl, case):
    attend(impl, case)


@cases(sdpa("tiny", 19, (1,), 2, 3, 2, 2))
def test_sdpa_matches_the_definition_written_element_by_element(impl, case):
    call = Call.of(case, impl.dtype)
    q, k, v, mask = call.args
    check(impl, call, "output", output, expected=definitions.attention(q, k, v, mask)[0], result=returned(impl, call))


@cases(sdpa("d_k-16", 12, (2,), 3, 5, 16, 3))
def test_sdpa_scales_scores_by_sqrt_d_k(impl, case):
    # a missing or wrong scale changes every weight
    attend(impl, case)


@cases(sdpa("3d", 13, (2,), 4, 4, 4, 3), sdpa("4d", 13, (2, 2), 4, 4, 4, 3))
def test_sdpa_transposes_only_the_last_two_axes_of_k(impl, case):
    # seq_len == d_k: q @ k without the transpose still runs; 4-D catches a 3-D-only transpose
    attend(impl, case)


@cases(sdpa("ones", 14, (2,), 3, 5, 4, 2, style="ones"))
def test_sdpa_weights_sum_to_one_over_keys(impl, case):
    # v = 1 makes each output row the sum of its weights: checkable without the weights
    call = Call.of(case, impl.dtype)
    q, _, v, _ = call.args
    what = "sum of the weights over keys (output with v = 1)"
    check(impl, call, what, output, expected=np.ones(q.shape[:-1] + v.shape[-1:]), result=returned(impl, call, what))


@cases(
    sdpa("padding", 15, (2,), 3, 5, 4, 6, mask="padding"),
    sdpa("padding-crosses-tiles", 15, (3, 2), 70, 130, 16, 16, mask="padding", style="dominant"),
)
def test_sdpa_masked_keys_get_zero_weight_and_rows_still_sum_to_one(impl, case):
    attend(impl, case, "output with a padding mask")


@cases(
    sdpa("4d-heads", 16, (2, 2), 4, 4, 3, 5, mask="causal"),
    sdpa("crosses-tiles", 16, (2, 2), 100, 100, 16, 16, mask="causal", style="dominant"),
)
def test_sdpa_applies_a_causal_mask_to_4d_heads(impl, case):
    attend(impl, case, "output with a causal mask")


@cases(sdpa("large", 17, (2,), 3, 5, 4, 2, style="large"))
def test_sdpa_is_stable_for_large_logits(impl, case):
    # q scaled by 500: scores of about +-1000, so the softmax inside must subtract each row's max
    attend(impl, case, "output with scores near +-1000")


@pytest.mark.differential
@cases(sdpa("reference", 18, (3, 2), 6, 7, 8, 4, mask="padding"))
def test_sdpa_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "output vs reference", output, expected=output(call.on(reference)),
          result=returned(impl, call, "output vs reference"))
