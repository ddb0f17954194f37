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

MOST_SLOTS = 1024  # the probe's values are one per slot of the pool
OUTSIDE = "reads blocks that its row of the block table does not name"
TAIL = "reads the slots past the sequence's end in its last block"


def findings(impl, call, observe, got):
    """The finding for a failing paged_attention call ([] when none applies)."""
    named = call.named()
    n_blocks, block_size, n_kv_heads = named["v_pages"].shape[:3]
    slots = n_blocks * block_size
    if slots > MOST_SLOTS or not deterministic(impl, call, observe, got):
        return []
    values = np.zeros((slots, n_kv_heads, slots))
    values[np.arange(slots), :, np.arange(slots)] = 1.0  # slot s (block s // block_size): unit vector s
    probe = probed(impl, call.replaced({**named, "q": np.zeros_like(named["q"]),
                                        "k_pages": np.zeros_like(named["k_pages"]),
                                        "v_pages": values.reshape(n_blocks, block_size, n_kv_heads, slots).astype(
                                            named["v_pages"].dtype)}), observe)
    if probe is None or np.isnan(probe.seen).any():
        return []
    found = _described(probe.seen > 0.25 / slots, probe.expected > 0, named)  # a seen slot weighs 1/n, n <= slots
    return [Finding("paged reads", data, lines, titles, (probe.kept(),), why="which slots of the pages each query's "
                    "output draws on, queries set to zero", whole=False) for data, lines, titles in found]


def _described(seen, wanted, named):
    """[(data, lines, titles)]: how the slots the queries read (seen, (batch, Lq, heads, slots))
    differ from the contract's (wanted); [] when they do not, or heads read differently."""
    if not (seen == seen[:, :, :1]).all() or (seen == wanted).all():
        return []
    seen, wanted = seen[:, :, 0], wanted[:, :, 0]  # (batch, Lq, slots)
    table, lengths = np.asarray(named["block_table"]), np.asarray(named["seq_lens"])
    block_size = named["v_pages"].shape[1]
    own = np.zeros(seen.shape[::2], dtype=bool)  # (batch, slots): the slots of each sequence's positions
    tail = np.zeros_like(own)  # the slots of its last block past its end
    for b, length in enumerate(lengths):
        positions = np.arange(length)
        own[b, table[b, positions // block_size] * block_size + positions % block_size] = True
        last = table[b, (length - 1) // block_size] * block_size
        tail[b, last + (length - 1) % block_size + 1 : last + block_size] = True
    extra = seen & ~own[:, None]
    titles = []
    if (extra & ~tail[:, None]).any():
        titles.append(OUTSIDE)
    elif extra.any():
        titles.append(TAIL)
    b, i = (int(index) for index in np.argwhere((seen != wanted).any(axis=-1))[0])
    data = {"sequence": b, "query": i, "reads": span(np.flatnonzero(seen[b, i])),
            "expected_reads": span(np.flatnonzero(wanted[b, i]))}
    line = (f"evidence: query {i} of sequence {b} draws on the slots {data['reads']} of the pool (slot = block * "
            f"{block_size} + offset); the contract lets it read {data['expected_reads']} "
            f"({int((seen != wanted).any(axis=-1).sum())} of {seen.shape[0] * seen.shape[1]} queries differ; measured "
            "with queries set to zero and one-hot values)")
    return [(data, (line,), tuple(titles))]
