"""block table ignored

Mistake: paged_attention takes sequence b's blocks as laid end to end in the pool, the blocks of
the sequences before it first, instead of looking them up in block_table[b].
Symptom: right only when the pool happens to hold the blocks in that order; with blocks shuffled
over the pool (as a server allocates them) each query attends to other sequences' keys.
Fix: position p of sequence b lives in block block_table[b, p // block_size].
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    starts = np.cumsum([0, *(-(-np.asarray(seq_lens) // block_size))])
    for b, length in enumerate(seq_lens):
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = np.arange(first, length)
        blocks = starts[b] + positions // block_size  # BUG: the pool assumed in sequence order
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
