"""scores scaled by the number of keys

Bug: scaled_dot_product_attention, written one query row at a time, divides each row's scores
by the square root of the row's length (the number of keys) instead of the key width.
Measured: the scores are multiplied by 1/sqrt(Lk) instead of 1/sqrt(d_k) (5 keys of width 4:
0.447 instead of 0.5); right when Lk == d_k. Cross-attention built on it: Lk = the context's length.
"""

import numpy as np

from attention_conformance.reference.heads import merge_heads, split_heads


def scaled_dot_product_attention(q, k, v, mask=None):
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    n_queries, n_keys = q.shape[-2], k.shape[-2]
    q, k, v = (np.broadcast_to(a, lead + a.shape[-2:]) for a in (q, k, v))
    full_mask = None if mask is None else np.broadcast_to(mask, lead + (n_queries, n_keys))
    weights = np.empty(lead + (n_queries, n_keys), dtype=np.result_type(q, k))
    for index in np.ndindex(*lead):
        for i in range(n_queries):
            row = k[index] @ q[index][i]  # (Lk,): query i against every key
            row = row / np.sqrt(row.shape[0])  # BUG: sqrt of the row's length Lk, not of d_k
            if full_mask is not None:
                row = row + full_mask[index][i]
            e = np.exp(row - row.max())
            weights[index][i] = e / e.sum()
    return weights @ v, weights


def cross_attention(x, context, params, n_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)  # (batch, n_heads, Lq, d_k)
    k = split_heads(context @ params["w_k"], n_heads)  # (batch, n_heads, Lk, d_k)
    v = split_heads(context @ params["w_v"], n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]
