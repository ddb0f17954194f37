"""Measuring which slots of a paged cache each query reads (paged_attention), with one call of the
implementation: every query set to zero, so that the positions it sees weigh alike, and each slot's
value a unit vector of its own, so that the output of a query is the share of each slot in it.

The slots read are compared with the contract's: slots of blocks the sequence's row of the block
table does not name, slots past the sequence's end in its own last block, or its own positions
seen wrong (a query placed elsewhere, a window off). The description is a symptom, not a model: the
finding keeps the probe, on which a look-alike of the catalogue must hold too.
"""

import numpy as np

from attention_conformance.measure import Finding, deterministic, probed, span
from attention_conformance.measure_packed import sequences_words

MOST_SLOTS = 2048  # the probe's values are one per slot of the blocks the table names, and one for the rest,
MOST_VALUES = 2**24  # for each slot of the pool and head
OUTSIDE = "reads blocks that its row of the block table does not name"
TAIL = "reads the slots past the sequence's end in its last block"


def findings(impl, call, observe, got):
    """The finding for a failing paged_attention call ([] when none applies)."""
    named = call.named()
    n_blocks, block_size, n_kv_heads = named["v_pages"].shape[:3]
    # a column of its own for each slot of the blocks the table names, one shared by every other slot
    blocks = np.unique(np.asarray(named["block_table"]))
    slots = (blocks[(blocks >= 0) & (blocks < n_blocks), None] * block_size + np.arange(block_size)).ravel()
    if len(slots) + 1 > MOST_SLOTS or n_blocks * block_size * n_kv_heads * (len(slots) + 1) > MOST_VALUES:
        return []
    if not deterministic(impl, call, observe, got):
        return []
    column = np.full(n_blocks * block_size, len(slots))
    column[slots] = np.arange(len(slots))
    values = np.zeros((n_blocks * block_size, n_kv_heads, len(slots) + 1))
    values[np.arange(n_blocks * block_size), :, column] = 1.0  # slot s: unit vector of its column
    probe = probed(impl, call.replaced({**named, "q": np.zeros_like(named["q"]),
                                        "k_pages": np.zeros_like(named["k_pages"]),
                                        "v_pages": values.reshape(n_blocks, block_size, n_kv_heads, -1).astype(
                                            named["v_pages"].dtype)}), observe)
    if probe is None:
        return []
    # a query that reads no slot has no weights to share (0 / 0): NaN throughout, it sees nothing
    seen = np.nan_to_num(probe.seen, nan=0.0) > 0.25 / (len(slots) + 1)  # a seen slot weighs 1/n, n <= the slots read
    found = _described(seen[..., :-1], probe.expected[..., :-1] > 0, seen[..., -1], slots, column, named)
    return [Finding("paged reads", data, lines, titles, (probe.kept(),), why="which slots of the pages each query's "
                    "output draws on, queries set to zero", whole=False) for data, lines, titles in found]


def _described(seen, wanted, elsewhere, slots, column, named):
    """[(data, lines, titles)]: how the slots the queries read (seen, (batch, Lq, heads, slots): the
    slots of the blocks the table names, `column[slot]` the column of each; elsewhere: any other
    slot) differ from the contract's (wanted); [] when they do not, or heads read differently."""
    if not (seen == seen[:, :, :1]).all() or not (elsewhere == elsewhere[:, :, :1]).all():
        return []
    if (seen == wanted).all() and not elsewhere.any():
        return []
    seen, wanted, elsewhere = seen[:, :, 0], wanted[:, :, 0], elsewhere[:, :, 0]  # (batch, Lq, slots), (batch, Lq)
    table, lengths = np.asarray(named["block_table"]), np.asarray(named["seq_lens"])
    block_size = named["v_pages"].shape[1]
    mine = [column[_slots(table[b], length, block_size)] for b, length in enumerate(lengths)]  # its positions' columns
    own = np.zeros(seen.shape[::2], dtype=bool)  # (batch, slots): the slots of each sequence's positions
    tail = np.zeros_like(own)  # the slots of its last block past its end
    for b, length in enumerate(lengths):
        own[b, mine[b]] = True
        last = table[b, (length - 1) // block_size] * block_size
        tail[b, column[last + (length - 1) % block_size + 1 : last + block_size]] = True
    extra = seen & ~own[:, None]
    titles = []
    if (extra & ~tail[:, None]).any() or elsewhere.any():
        titles.append(OUTSIDE)
    elif extra.any():
        titles.append(TAIL)
    else:  # its own positions seen wrong: the causal mask or the window, position by position
        titles = sequences_words([(seen[b][:, columns], wanted[b][:, columns]) for b, columns in enumerate(mine)],
                                 True, named.get("window"))
    b, i = (int(index) for index in np.argwhere((seen != wanted).any(axis=-1) | elsewhere)[0])
    reads = span(slots[seen[b, i]]) + (", and slots of blocks the table does not name" if elsewhere[b, i] else "")
    data = {"sequence": b, "query": i, "reads": reads, "expected_reads": span(slots[wanted[b, i]])}
    line = (f"evidence: query {i} of sequence {b} draws on the slots {data['reads']} of the pool (slot = block * "
            f"{block_size} + offset); the contract lets it read {data['expected_reads']} "
            f"({int(((seen != wanted).any(axis=-1) | elsewhere).sum())} of {seen.shape[0] * seen.shape[1]} queries "
            "differ; measured with queries set to zero and one-hot values)")
    return [(data, (line,), tuple(titles))]  # several: what tells them apart is another check's (the summary)


def _slots(row, length, block_size):
    """The slots of a sequence's positions 0..length-1, through its row of the block table."""
    positions = np.arange(length)
    return row[positions // block_size] * block_size + positions % block_size
