"""A paged key/value cache: each sequence's positions kept in fixed-size blocks scattered over one
pool of pages, found through its row of a block table, as vLLM and FlashAttention's block_table
serve many sequences from one memory."""

import numpy as np

from .packed import packed_mask
from .serving import attention_with_lse


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    """q (batch, Lq, n_heads, d_k), k_pages (n_blocks, block_size, n_kv_heads, d_k), v_pages
    (n_blocks, block_size, n_kv_heads, d_v) -> (batch, Lq, n_heads, d_v).

    Position p of sequence b lives in block block_table[b, p // block_size], slot p % block_size;
    seq_lens[b] counts its positions, the Lq new ones (its queries) the last of them. Query i is
    position seq_lens[b] - Lq + i and sees the positions up to it, with a window only the last
    `window` of those. Only the positions some query sees are read.
    """
    n_q, n_heads = q.shape[1], q.shape[2]
    block_size = k_pages.shape[1]
    kv_head = np.arange(n_heads) * k_pages.shape[2] // n_heads  # h // (n_heads // n_kv_heads)
    out = np.zeros_like(q, shape=q.shape[:3] + v_pages.shape[3:])
    for b, length in enumerate(seq_lens):
        first = 0 if window is None else max(length - n_q - window + 1, 0)  # the first position a window holds
        positions = np.arange(first, length)
        blocks, slots = block_table[b, positions // block_size], positions % block_size
        keys, values = (pages[blocks, slots].transpose(1, 0, 2)[kv_head] for pages in (k_pages, v_pages))
        mask = packed_mask(n_q, len(positions), True, window)  # the queries are the last positions
        seen, _ = attention_with_lse(q[b].transpose(1, 0, 2), keys, values, mask)
        out[b] = seen.transpose(1, 0, 2)
    return out
