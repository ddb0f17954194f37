"""paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None): the newest positions of
each sequence over a paged key/value cache, its blocks found through a block table, as vLLM and
FlashAttention's block_table serve many sequences from one pool of memory."""

import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases, kernel_head_dims
from attention_conformance.checks import check

paged = pytest.mark.conformance("paged_attention")


def paged_case(id, seed, seq_lens, lq, heads, d_k, d_v, block_size, window=None, pinned=(), **options):
    """Sequences of lengths seq_lens, their newest lq positions the queries, heads (n_heads,
    n_kv_heads), the cache in blocks of block_size slots (options: cases.paged_inputs')."""
    params = dict(seed=seed, seq_lens=seq_lens, lq=lq, n_heads=heads[0], n_kv_heads=heads[1], d_k=d_k, d_v=d_v,
                  block_size=block_size, window=window, **options)
    return Case(id, "paged_attention", params, draw="paged_inputs", kwargs={"window": window} if window else {},
                pinned=("block_size", *pinned))


def output(impl, case, what="output of every sequence's new positions"):
    check(impl, Call.of(case, impl.dtype), what)


def kernel_paged_cases(declaration):
    """Sequences around the usual tiles, decoding one position and prefilling a chunk of 16, over
    blocks of 16 with grouped heads."""
    found = []
    for d in kernel_head_dims(declaration)[1:]:
        found.append(paged_case(f"d{d}-decode", 90, (63, 64, 65, 129, 257), 1, (8, 2), d, d, 16))
        found.append(paged_case(f"d{d}-chunk-of-16", 91, (16, 65, 257, 1000), 16, (8, 2), d, d, 16))
    return found


@paged
@cases(
    paged_case("decode", 92, (1, 5, 17, 33), 1, (4, 2), 8, 8, 16),
    paged_case("chunk-of-4", 93, (4, 20, 35), 4, (4, 4), 8, 6, 16),
    paged_case("6-heads-over-3", 94, (9, 30), 2, (6, 3), 16, 8, 16, style="normal"),  # heads that differ
    kernel=kernel_paged_cases,
)
def test_paged_matches_the_formula(impl, case):
    # each sequence's blocks lie shuffled over the pool: its queries see its own positions, up to their own
    output(impl, case)


@paged
@cases(paged_case("block-1", 95, (3, 9, 20), 2, (2, 1), 8, 8, 1),
       paged_case("block-32", 95, (20, 40), 2, (2, 1), 8, 8, 32),
       paged_case("block-256", 96, (300, 17), 3, (2, 1), 8, 8, 256))
def test_paged_takes_blocks_of_1_32_and_256_slots(impl, case):
    # position p lives in block block_table[b, p // block_size] at slot p % block_size, whatever the block size
    output(impl, case)


@paged
@cases(paged_case("shared-first-block", 97, (20, 18), 2, (2, 2), 8, 8, 8, shared=True))
def test_paged_reads_a_block_shared_by_two_sequences(impl, case):
    # prefix caching: both sequences' first 8 positions are one block, named in both rows of the table
    output(impl, case)


@paged
@cases(paged_case("ids-above-65535", 98, (7, 3), 1, (2, 1), 8, 8, 1, first_id=65536))
def test_paged_block_ids_above_65535(impl, case):
    # every used block has an id of 65,536 or more: an id kept in 16 bits names another block
    output(impl, case)


@paged
@cases(paged_case("window-6", 99, (40, 25, 9, 4), 3, (4, 2), 8, 8, 4, window=6))
def test_paged_window_sees_the_last_window_positions(impl, case):
    # query i of sequence b is position seq_lens[b] - Lq + i and sees it and the 5 positions before (all of
    # them in a sequence of 4)
    output(impl, case)


@paged
@cases(paged_case("nan-outside-the-table", 100, (5, 17, 33), 2, (2, 1), 8, 8, 16, poison="unused"))
def test_paged_never_reads_pages_outside_its_block_table(impl, case):
    # the blocks of no sequence hold NaN, and the table's entries past each sequence's blocks name one
    output(impl, case, "output of every sequence's new positions (blocks outside the table hold NaN, never to be read)")


@paged
@cases(paged_case("nan-past-the-end", 101, (5, 17, 33), 2, (2, 1), 8, 8, 16, poison="tail"))
def test_paged_never_reads_past_a_sequences_end(impl, case):
    # the slots of each last block past its sequence's end hold NaN, as a kernel that reads whole
    # blocks and masks by position would find (its 0 weights times NaN give NaN)
    output(impl, case, "output of every sequence's new positions (slots past each sequence's end hold NaN)")


@paged
@cases(paged_case("nan-before-the-window", 102, (40, 25, 9, 4), 3, (4, 2), 8, 8, 4, window=6, poison="freed"))
def test_paged_never_reads_blocks_freed_under_a_window(impl, case):
    # the blocks wholly before every query's window hold NaN: a server may have freed them
    output(impl, case, "output of every sequence's new positions (blocks before every window hold NaN)")
