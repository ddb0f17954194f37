"""block ids kept in 16 bits

Mistake: paged_attention reads the block table as 16-bit integers (a kernel that packs block ids
into uint16 to save memory).
Symptom: right while the pool has at most 65,536 blocks; a block id above 65,535 wraps around and
names another block.
Fix: keep block ids in 32 bits (vLLM and FlashAttention take int32 tables).
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    for b, length in enumerate(seq_lens):
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = np.arange(first, length)
        blocks = block_table.astype(np.uint16)[b, positions // block_size]  # BUG: ids above 65,535 wrap
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
