"""new positions left out of seq_lens

Mistake: paged_attention takes seq_lens[b] as the positions cached before the new ones, and puts
its queries after them, at seq_lens[b] + i.
Symptom: every query reads Lq positions past its sequence's end (stale slots, or other blocks),
and sees its own key where the next query's should be.
Fix: seq_lens counts the new positions too: query i is position seq_lens[b] - Lq + i.
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    for b, length in enumerate(seq_lens):
        length = length + n_q  # BUG: the new positions counted twice
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = np.arange(first, length)
        blocks = block_table[b, positions // block_size]
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
