"""freed blocks read under a window

Mistake: with a window, paged_attention reads every block of a sequence from its first and lets
the mask hide the positions before the window, instead of leaving out the blocks before it.
Symptom: right while those blocks still hold their keys; a server that frees the blocks a window
has passed (Mistral and Gemma are served so) gives NaN or garbage: 0 weights times NaN is NaN.
Fix: read only from the first position a query's window holds, max(seq_lens[b] - Lq - window + 1, 0).
"""

import numpy as np

from attention_conformance.mutants import complete


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads
    out = np.zeros(q.shape[:3] + v_pages.shape[3:], dtype=np.result_type(q, v_pages))
    for b, length in enumerate(seq_lens):
        first = 0  # BUG: every block from the first, freed under the window or not
        positions = np.arange(first, length)
        blocks = block_table[b, positions // block_size]
        slots = positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, packed_mask(n_q, len(positions), True, window))
        out[b] = seen.transpose(1, 0, 2)
    return out


complete(globals())
