"""paged cache read with a fixed block size

Mistake: paged_attention finds position p at block p // 16, slot p % 16, whatever the block size of
the pages it is given (a kernel written, or compiled, for vLLM's default of 16).
Symptom: right with blocks of 16 slots; with any other size each query reads other positions,
and slots of other blocks.
Fix: take the block size from the pages, k_pages.shape[1].
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = 16  # BUG: the block size the kernel was written for, not the pages'
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    for b, length in enumerate(seq_lens):
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = np.arange(first, length)
        blocks = block_table[b, positions // block_size]
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
