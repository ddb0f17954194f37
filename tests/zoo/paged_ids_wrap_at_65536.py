"""paged attention that keeps block ids in 16 bits, written as a dense gather

Bug: paged_attention gathers each sequence's blocks whole with the ids masked to their low 16 bits
(ids & 0xFFFF, as a kernel that packs them into uint16 would read them), then masks by position.
Measured: right while every id is below 65,536; with ids above it, the queries read other blocks.
"""

import numpy as np


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    batch, n_q, n_heads, d_k = q.shape
    block_size, n_kv_heads = k_pages.shape[1], k_pages.shape[2]
    out = np.zeros(q.shape[:3] + v_pages.shape[3:])
    for b in range(batch):
        length = int(seq_lens[b])
        ids = np.asarray(block_table[b, : -(-length // block_size)]) & 0xFFFF  # BUG: ids above 65,535 wrap
        keys = k_pages[ids].reshape(-1, n_kv_heads, d_k)[:length]
        values = v_pages[ids].reshape(-1, n_kv_heads, v_pages.shape[-1])[:length]
        for h in range(n_heads):
            kv = h * n_kv_heads // n_heads
            scores = q[b, :, h] @ keys[:, kv].T / np.sqrt(d_k)  # (Lq, length)
            position = length - n_q + np.arange(n_q)[:, None]
            seen = np.arange(length) <= position
            if window is not None:
                seen &= np.arange(length) > position - window
            scores = np.where(seen, scores, -np.inf)
            weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
            out[b, :, h] = (weights / weights.sum(axis=-1, keepdims=True)) @ np.where(seen.any(0)[:, None], values[:, kv], 0)
    return out.astype(q.dtype)
