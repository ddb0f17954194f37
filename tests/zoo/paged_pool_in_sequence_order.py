"""paged attention that assumes each sequence owns a fixed run of the pool

Bug: paged_attention never looks at block_table: sequence b's blocks are taken to be the pool's
blocks b * width to b * width + width - 1, width the table's columns (a cache laid out as one
contiguous array per sequence).
Measured: the queries read blocks that their row of the block table does not name.
"""

import numpy as np


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    batch, n_q, n_heads, d_k = q.shape
    block_size, width = k_pages.shape[1], np.shape(block_table)[1]
    out = np.zeros(q.shape[:3] + v_pages.shape[3:])
    for b in range(batch):
        length = int(seq_lens[b])
        positions = np.arange(length)
        blocks = np.minimum(b * width + positions // block_size, len(k_pages) - 1)  # BUG: the table never read
        keys, values = k_pages[blocks, positions % block_size], v_pages[blocks, positions % block_size]
        group = n_heads // k_pages.shape[2]
        for h in range(n_heads):
            scores = keys[:, h // group] @ q[b, :, h].T / np.sqrt(d_k)  # (length, Lq)
            position = length - n_q + np.arange(n_q)
            seen = positions[:, None] <= position
            if window is not None:
                seen &= positions[:, None] > position - window
            weights = np.exp(np.where(seen, scores, -np.inf) - np.where(seen, scores, -np.inf).max(axis=0))
            out[b, :, h] = (weights / weights.sum(axis=0)).T @ np.where(seen.any(1)[:, None], values[:, h // group], 0)
    return out.astype(q.dtype)
