"""Contract v3, paged caches: the reference's paged_attention against attention over each
sequence's positions written out in order, the formulas' gather against the reference, the
poisoned layouts (NaN exactly where the contract says nothing is read), the declared block sizes,
and the paged-reads instrument (suite/measure_paged.py) on the catalogue's paged mistakes."""

import types

import numpy as np
import pytest

from attention_conformance import measure, measure_paged, oracle
from attention_conformance.calls import Call
from attention_conformance.cases import Case, paged_inputs, visible
from attention_conformance.declaration import Declaration
from attention_conformance.implementation import Implementation, load
from attention_conformance.reference import paged_attention, scaled_dot_product_attention, softmax

LENGTHS = (3, 9, 20, 4)  # with 3 queries: a sequence of exactly its queries


def inputs(block_size, window=None, poison=None, **options):
    return paged_inputs(110, "float64", LENGTHS, 3, 6, 2, 8, 5, block_size, window=window, poison=poison, **options)


def written_out(found, b):
    """Sequence b's keys and values in position order, read through the table as the contract says."""
    positions = np.arange(found["seq_lens"][b])
    block_size = found["k_pages"].shape[1]
    blocks = found["block_table"][b, positions // block_size]
    return (pages[blocks, positions % block_size] for pages in (found["k_pages"], found["v_pages"]))


@pytest.mark.parametrize("block_size, window", [(1, None), (4, None), (16, 3), (256, None)])
def test_the_reference_is_attention_over_each_sequence_written_out(block_size, window):
    found = inputs(block_size, window)
    got = paged_attention(*found.values(), window=window)
    assert got.shape == (len(LENGTHS), 3, 6, 5)
    for b, length in enumerate(LENGTHS):
        keys, values = (np.repeat(x.transpose(1, 0, 2), 3, axis=0) for x in written_out(found, b))
        mask = np.where(visible(3, length, length - 3, window), 0.0, -np.inf)  # the queries are the last positions
        each, _ = scaled_dot_product_attention(found["q"][b].transpose(1, 0, 2), keys, values, mask)
        assert np.abs(got[b] - each.transpose(1, 0, 2)).max() < 1e-12


@pytest.mark.parametrize("poison, window", [("unused", None), ("tail", None), ("freed", 5)])
def test_poisoned_slots_are_exactly_those_never_read_and_neither_reference_nor_formulas_reads_them(poison, window):
    found = inputs(4, window, poison)
    nan = np.isnan(found["k_pages"][:, :, 0, 0])  # (blocks, slots)
    assert nan.any()
    read = np.zeros_like(nan)
    for b, length in enumerate(LENGTHS):
        first = 0 if window is None else max(length - 3 - window + 1, 0) // 4 * 4  # freed: whole blocks only
        positions = np.arange(first, length)
        read[found["block_table"][b, positions // 4], positions % 4] = True
    assert not (nan & read).any()
    for answer in (paged_attention(*found.values(), window=window), oracle.EXACT.paged_attention(*found.values(), window=window)):
        assert not np.isnan(answer).any()
    right = paged_attention(*inputs(4, window).values(), window=window)
    assert np.abs(paged_attention(*found.values(), window=window) - right).max() < 1e-12  # the same keys where read


def test_block_ids_above_65535_and_a_block_shared_by_two_sequences():
    high = inputs(1, first_id=65536)
    assert high["block_table"][:, 0].min() >= 65536 and high["k_pages"].shape[0] > 65536
    shared = inputs(2, shared=True)
    assert shared["block_table"][0, 0] == shared["block_table"][1, 0]
    first, second = (next(written_out(shared, b))[:2] for b in (0, 1))
    assert np.array_equal(first, second)
    for found in (high, shared):
        got, want = paged_attention(*found.values()), oracle.EXACT.paged_attention(*found.values())
        assert np.abs(got - want).max() < 1e-12


def paged_case(block_size, window=None):
    params = dict(seed=111, seq_lens=(5, 17), lq=2, n_heads=4, n_kv_heads=2, d_k=8, d_v=8, block_size=block_size,
                  window=window)
    return Case("paged", "paged_attention", params, draw="paged_inputs", kwargs={"window": window} if window else {})


def test_a_declaration_of_block_sizes_rules_out_the_others():
    declaration = Declaration.parse({"block_sizes": [32, 16], "masks": "causal"})
    assert declaration.block_sizes == (16, 32) and "block_sizes=[16, 32]" in str(declaration)
    limits = {size: Call.of(paged_case(size), "float64").limits() for size in (1, 16)}
    assert declaration.rules_out(limits[16], "float64") is None
    assert declaration.rules_out(limits[1], "float64") == "block_sizes=[16, 32] does not include block_size=1"
    assert declaration.rules_out(Call.of(paged_case(16, 3), "float64").limits(), "float64").startswith("masks=")


@pytest.mark.parametrize("mutant, block_size, title", [
    ("paged_block_table_ignored", 8, measure_paged.OUTSIDE),
    ("paged_block_size_hard_coded", 32, measure_paged.OUTSIDE),  # 16 where the pages have 32: other blocks
    ("paged_reads_the_tail_of_the_last_block", 8, measure_paged.TAIL),
])
def test_the_paged_instrument_measures_which_slots_a_mistake_reads(mutant, block_size, title):
    impl = load(f"attention_conformance.mutants.{mutant}")
    call = Call.of(paged_case(block_size), "float64")
    got = np.asarray(call.run(impl))
    (finding,) = measure_paged.findings(impl, call, np.asarray, got)
    assert finding.titles == (title,) and "evidence: query" in finding.lines[0]
    assert finding.data["reads"] != finding.data["expected_reads"]


@pytest.mark.parametrize("block_size", [8, 256])
def test_the_paged_instrument_describes_a_sequences_own_positions_seen_wrong_on_any_pool(block_size):
    """The probe's values are one-hot over the slots of the blocks the table names: a pool of blocks of
    256 slots is measured too."""
    call = Call.of(paged_case(block_size), "float64")

    def turned_over(q, k_pages, v_pages, block_table, seq_lens, window=None):
        out = []
        for b, length in enumerate(seq_lens):  # query i of n sees positions from its own on, not up to it
            n_q = q.shape[1]
            positions = np.arange(length)
            slots = [block_table[b, p // v_pages.shape[1]] * v_pages.shape[1] + p % v_pages.shape[1] for p in positions]
            keys = k_pages.reshape(-1, *k_pages.shape[2:])[slots]
            values = v_pages.reshape(-1, *v_pages.shape[2:])[slots]
            group = q.shape[2] // keys.shape[1]
            keys, values = np.repeat(keys, group, axis=1), np.repeat(values, group, axis=1)
            scores = np.einsum("ihd,jhd->hij", q[b], keys) / np.sqrt(q.shape[-1])
            hidden = np.arange(length)[None, :] < (length - n_q + np.arange(n_q))[:, None]
            weights = softmax(np.where(hidden, -np.inf, scores))
            out.append(np.einsum("hij,jhd->ihd", weights, values))
        return np.stack(out)

    impl = Implementation("variant", types.SimpleNamespace(paged_attention=turned_over), dtype="float64")
    got = np.asarray(call.run(impl))
    (finding,) = measure_paged.findings(impl, call, np.asarray, got)
    assert finding.titles == (measure.TURNED_OVER,), finding


def test_the_paged_instrument_says_nothing_of_the_reference():
    impl = load("attention_conformance.reference")
    call = Call.of(paged_case(8), "float64")
    assert measure_paged.findings(impl, call, np.asarray, np.asarray(call.run(impl))) == []


def test_a_declaration_without_grouped_heads_rules_out_the_serving_calls_that_group_them():
    declaration = Declaration.parse({"grouped_heads": False})
    grouped = Call.of(paged_case(16), "float64").limits()  # 4 query heads over 2
    assert declaration.rules_out(grouped, "float64") == ("grouped_heads=False, and this call has 4 query heads over 2 "
                                                         "key/value heads")
    assert declaration.rules_out({**grouped, "heads": (4, 4)}, "float64") is None
    assert Declaration().rules_out(grouped, "float64") is None
