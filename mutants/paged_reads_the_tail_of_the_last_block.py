"""paged cache read to the end of the last block

Mistake: paged_attention reads each sequence's blocks whole, its length rounded up to a multiple
of the block size, and takes the slots past the end for positions.
Symptom: right when every length is a multiple of the block size; otherwise the queries sit at
the end of the last block, among slots that hold nothing of the sequence.
Fix: a sequence has seq_lens[b] positions; slots past them in its last block are never read.
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    for b, length in enumerate(seq_lens):
        length = -(-length // block_size) * block_size  # BUG: whole blocks, the tail included
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = np.arange(first, length)
        blocks = block_table[b, positions // block_size]
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
