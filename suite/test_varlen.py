"""varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None): sequences of
different lengths packed end to end, as FlashAttention's varlen API and serving engines batch them."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import KERNEL_LENGTHS, Case, cases, kernel_head_dims
from attention_conformance.checks import check

packed = pytest.mark.conformance("varlen_attention")


def packed_case(id, seed, lengths_q, lengths_k, heads, d_k, d_v, mask=None, style="dominant", padding=(0, 0)):
    """A pack of sequences (lengths of their queries, of their keys), `heads` (n_heads, n_kv_heads);
    mask "causal" or "window:W" is passed as causal=True or window=W."""
    kwargs = {"causal": True} if mask == "causal" else {"window": int(mask.partition(":")[2])} if mask else {}
    params = dict(seed=seed, lengths_q=lengths_q, lengths_k=lengths_k, n_heads=heads[0], n_kv_heads=heads[1], d_k=d_k,
                  d_v=d_v, mask=mask, style=style, padding=padding)
    return Case(id, "varlen_attention", params, draw="packed_inputs", kwargs=kwargs)


def outputs(impl, case, what="output of every packed query"):
    """The output's rows of the packed queries against the formulas; the rows past the last sequence
    (padding) are the implementation's to fill."""
    call = Call.of(case, impl.dtype)
    packed_rows = int(call.named()["cu_seqlens_q"][-1])
    check(impl, call, what, lambda result: np.asarray(result)[:packed_rows])


def kernel_packed_cases(declaration):
    """Packs of sequences around the usual tiles, causal, with grouped heads; decoding-like packs of
    few queries over many keys."""
    found = []
    for d in kernel_head_dims(declaration)[1:]:
        lengths = (*KERNEL_LENGTHS[1:5], 1, 0, *KERNEL_LENGTHS[5:7])
        found.append(packed_case(f"d{d}-tiles-causal", 80, lengths, lengths, (8, 2), d, d, "causal"))
        found.append(packed_case(f"d{d}-few-queries-many-keys", 81, (1, 64, 17, 0), (255, 257, 128, 40), (6, 2), d, d,
                                 "causal"))
    return found


@packed
@cases(
    packed_case("one-sequence", 82, (5,), (5,), (2, 2), 8, 8),
    packed_case("four-sequences", 82, (3, 1, 5, 2), (3, 1, 5, 2), (4, 4), 8, 8),
    packed_case("queries-and-keys-differ", 83, (2, 5, 1), (6, 3, 4), (4, 2), 8, 6),
    packed_case("6-heads-over-3", 84, (4, 2, 6), (4, 2, 6), (6, 3), 16, 8, style="normal"),  # heads that differ
    kernel=kernel_packed_cases,
)
def test_varlen_matches_the_formula(impl, case):
    # each sequence's queries see its own keys only: the dominant keys share codes across sequences
    outputs(impl, case)


@packed
@cases(packed_case("keys-longer-and-shorter", 85, (3, 6, 4), (7, 4, 4), (4, 2), 8, 8, "causal"))
def test_varlen_causal_mask_is_aligned_to_the_bottom_right(impl, case):
    # query i of Lq sees keys j <= i + Lk - Lq: with 3 queries over 7 keys the first sees 5 keys; with
    # 6 over 4 the first two see none (output 0)
    outputs(impl, case)


@packed
@cases(packed_case("window-3", 86, (5, 3, 6), (5, 8, 6), (2, 1), 8, 8, "window:3"))
def test_varlen_window_sees_the_last_window_keys_up_to_each_query(impl, case):
    # window=3 alone implies causal: query i sees keys i + Lk - Lq - 2 to i + Lk - Lq
    outputs(impl, case)


@packed
@cases(packed_case("empty-sequences", 87, (2, 0, 3, 1, 0), (0, 2, 4, 1, 0), (2, 2), 8, 8))
def test_varlen_sequences_of_length_zero_and_queries_that_see_no_key(impl, case):
    # the first sequence has no key: its queries get 0; the second has keys but no query; the last is empty
    outputs(impl, case)


@packed
@cases(packed_case("nan-past-the-pack", 88, (3, 4), (5, 2), (2, 1), 8, 8, "causal", padding=(2, 6)))
def test_varlen_never_reads_key_rows_past_the_last_sequence(impl, case):
    # the rows of k and v past cu_seqlens_k[-1] (and of q past cu_seqlens_q[-1]) hold NaN: a NaN in the
    # output says they were read, as a kernel reading a whole tile past the pack's end would
    outputs(impl, case, "output of every packed query (rows past the last sequence hold NaN, never to be read)")
