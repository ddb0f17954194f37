"""Contract v3, packed batches: the reference's varlen_attention against attention sequence by
sequence, the formulas' document mask against the reference, and the packed-visibility instrument
(suite/measure_packed.py) on seen-key patterns built to hold, or not, what it describes."""

import numpy as np
import pytest

from attention_conformance import measure, measure_packed, oracle
from attention_conformance.calls import Call
from attention_conformance.cases import Case, packed_inputs, visible
from attention_conformance.declaration import Declaration
from attention_conformance.reference import scaled_dot_product_attention, varlen_attention

LENGTHS_Q, LENGTHS_K = (3, 0, 1, 6, 2), (5, 2, 0, 4, 2)  # fewer and more queries than keys, empty sequences


@pytest.mark.parametrize("mask", [None, "causal", "window:2"])
def test_the_reference_is_attention_sequence_by_sequence_and_reads_nothing_past_the_pack(mask):
    inputs = packed_inputs(90, "float64", LENGTHS_Q, LENGTHS_K, 6, 2, 8, 5, mask, padding=(2, 3))
    q, k, v, cu_q, cu_k = inputs.values()
    kwargs = {"causal": True} if mask == "causal" else {"window": 2} if mask else {}
    got = varlen_attention(q, k, v, cu_q, cu_k, **kwargs)
    assert got.shape == (q.shape[0], 6, 5) and not np.isnan(got[: cu_q[-1]]).any()  # the NaN padding is never read
    for b, (n_q, n_k) in enumerate(zip(LENGTHS_Q, LENGTHS_K)):
        rows_q, rows_k = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
        if n_q == 0:
            continue
        if n_k == 0:  # no key to see: 0
            assert (got[rows_q] == 0).all()
            continue
        heads = [np.repeat(x[rows].transpose(1, 0, 2), 3, axis=0) for x, rows in ((k, rows_k), (v, rows_k))]
        seen = np.ones((n_q, n_k), dtype=bool)
        if mask:  # written from the contract's words: query i sees j <= i + n_k - n_q, the last 2 with the window
            i, j = np.arange(n_q)[:, None], np.arange(n_k)[None, :]
            seen = (j <= i + n_k - n_q) & ((mask == "causal") | (j > i + n_k - n_q - 2))
        blind = ~seen.any(axis=1)  # queries that see no key: 0
        with np.errstate(invalid="ignore"):
            each, _ = scaled_dot_product_attention(q[rows_q].transpose(1, 0, 2), *heads, np.where(seen, 0.0, -np.inf))
        assert np.abs(got[rows_q][~blind] - each.transpose(1, 0, 2)[~blind]).max() < 1e-12
        assert (got[rows_q][blind] == 0).all() and blind.any() == (mask is not None and n_q > n_k)


@pytest.mark.parametrize("mask", [None, "causal", "window:3"])
def test_the_formulas_document_mask_agrees_with_the_reference(mask):
    inputs = packed_inputs(91, "float64", LENGTHS_Q, LENGTHS_K, 4, 4, 8, 8, mask, "dominant", padding=(1, 2))
    kwargs = {"causal": True} if mask == "causal" else {"window": 3} if mask else {}
    packed_rows = inputs["cu_seqlens_q"][-1]
    got = varlen_attention(*inputs.values(), **kwargs)[:packed_rows]
    expected = oracle.EXACT.varlen_attention(*inputs.values(), **kwargs)[:packed_rows]
    assert np.abs(got - expected).max() < 1e-12


def seen_by(seen_rows, heads=2):
    """Weights (queries, heads, keys) of a probe whose queries draw on `seen_rows` (queries, keys) alike."""
    weights = seen_rows / np.maximum(seen_rows.sum(axis=1, keepdims=True), 1)
    return np.repeat(weights[:, None, :], heads, axis=1)


def pack(blocks, total_k):
    """(queries, total_k) seen rows from each sequence's block laid at its place."""
    rows = np.zeros((sum(b.shape[0] for b in blocks), total_k), dtype=bool)
    r = c = 0
    for block in blocks:
        rows[r : r + block.shape[0], c : c + block.shape[1]] = block
        r, c = r + block.shape[0], c + block.shape[1]
    return rows


NAMED = {"cu_seqlens_q": np.array([0, 3, 5]), "cu_seqlens_k": np.array([0, 6, 8]), "causal": True}
RIGHT = pack([visible(3, 6, 3), visible(2, 2, 0)], 10)  # 10 key rows: 2 past the pack


@pytest.mark.parametrize("seen, title", [
    (pack([visible(3, 6, 0), visible(2, 2, 0)], 10), measure_packed.TOP_LEFT),
    (pack([visible(3, 6, 4), visible(2, 2, 1)], 10), measure_packed.ONE_AHEAD),
    (pack([visible(3, 6, 2), visible(2, 2, -1)], 10), measure_packed.OWN_HIDDEN),
    (RIGHT | ((np.arange(5) < 3)[:, None] & (np.arange(10) == 6)[None, :]),
     "each sequence also sees the first key of the next (its end read one past)"),
    (np.tri(5, 10, k=8, dtype=bool) & (np.arange(10) < 8), "the sequences of the pack see each other (cu_seqlens not applied)"),
    (RIGHT | (np.arange(10) == 9)[None, :], "reads key rows past the last sequence (cu_seqlens_k[-1])"),
    # the triangle kept upside down (triu for tril), with its diagonal; no causal mask at all (3 queries
    # apart: on 2 queries over 2 keys, seeing every key is also seeing one ahead)
    (pack([~np.tri(3, 6, k=2, dtype=bool), ~np.tri(2, 2, k=-1, dtype=bool)], 10), measure.TURNED_OVER),
    (pack([np.ones((3, 6), bool), np.ones((2, 2), bool)], 10), measure_packed.NOT_MASKED),
])
def test_the_packed_instrument_describes_how_the_keys_seen_differ(seen, title):
    ((data, lines, titles),) = measure_packed._described(seen_by(seen), seen_by(RIGHT), NAMED)
    assert titles == (title,) and data["expected_sees"] in lines[0]


def test_a_diagonal_moved_in_a_window_is_one_key_off_whether_or_not_the_far_edge_moves_with_it():
    window = {**NAMED, "window": 3}
    right = pack([visible(3, 6, 3, 3), visible(2, 2, 0, 3)], 10)
    for width in (3, 2):  # the window shifted whole, or its own key hidden and its far edge kept
        seen = pack([visible(3, 6, 2, width), visible(2, 2, -1, width)], 10)
        ((_, _, titles),) = measure_packed._described(seen_by(seen), seen_by(right), window)
        assert titles == (measure_packed.OWN_HIDDEN,)


def test_no_causal_mask_is_said_where_the_queries_that_see_no_key_still_get_none():
    named = {"cu_seqlens_q": np.array([0, 4]), "cu_seqlens_k": np.array([0, 3]), "causal": True}
    right = visible(4, 3, -1)  # 4 queries over 3 keys: the first sees none
    unmasked = right.any(axis=-1)[:, None] & np.ones((4, 3), bool)  # the others see all 3; it is given 0
    ((_, _, titles),) = measure_packed._described(seen_by(unmasked), seen_by(right), named)
    assert titles == (measure_packed.NOT_MASKED,)


def test_the_packed_instrument_says_nothing_when_the_keys_are_right_or_heads_differ():
    assert measure_packed._described(seen_by(RIGHT), seen_by(RIGHT), NAMED) == []
    differ = seen_by(RIGHT)
    differ[:, 1] = seen_by(pack([visible(3, 6, 0), visible(2, 2, 0)], 10))[:, 0]
    assert measure_packed._described(differ, seen_by(RIGHT), NAMED) == []


def test_the_packed_instrument_names_nan_only_at_exactly_the_queries_that_see_no_key():
    wanted = pack([visible(3, 2, -1), visible(2, 2, 0)], 10)  # 3 queries over 2 keys: the first sees none
    nan_there = seen_by(wanted)
    nan_there[0] = np.nan
    ((_, _, titles),) = measure_packed._described(nan_there, seen_by(wanted), NAMED)
    assert titles == ("a query that sees no key gets NaN",)
    nan_elsewhere = seen_by(wanted)
    nan_elsewhere[1] = np.nan
    assert measure_packed._described(nan_elsewhere, seen_by(wanted), NAMED) == []


def packed_case(lengths_k, mask):
    """A case as suite/test_varlen.py writes them: 3 and 5 queries, 4 query heads over 2, d_k = d_v = 8."""
    kwargs = {"causal": True} if mask == "causal" else {"window": 2} if mask else {}
    params = dict(seed=92, lengths_q=(3, 5), lengths_k=lengths_k, n_heads=4, n_kv_heads=2, d_k=8, d_v=8, mask=mask)
    return Case("pack", "varlen_attention", params, draw="packed_inputs", kwargs=kwargs)


def test_a_declaration_fits_the_packed_cases_head_width_and_rules_out_windows_and_long_sequences():
    declaration = Declaration.parse({"head_dims": [64, 128], "masks": "causal", "max_seq_len": 5})
    fitted = packed_case((4, 5), "causal").fit(declaration)
    assert fitted.params["d_k"] == fitted.params["d_v"] == 64
    calls = {mask: Call.of(packed_case((4, lk), mask).fit(declaration), "float64")
             for mask, lk in (("causal", 5), ("window:2", 5), (None, 6))}
    assert declaration.rules_out(calls["causal"].limits(), "float64") is None
    assert declaration.rules_out(calls["window:2"].limits(), "float64").startswith("masks=")
    assert declaration.rules_out(calls[None].limits(), "float64").startswith("max_seq_len=5")
