"""cross-attention from scratch whose keys and values come from x

Bug: cross_attention, written with one einsum per projection, projects the keys and values from
x (the queries' input) instead of the context: self-attention under another name.
Measured: the context plays no role (changing it leaves the output unchanged); query i sees the
Lq positions of x instead of the Lk of the context (a shape error when a mask over the context is given).
"""

import numpy as np


def cross_attention(x, context, params, n_heads, mask=None):
    batch, n_queries, d_model = x.shape
    d_k = d_model // n_heads

    def heads(a, w):  # (batch, L, d_model) -> (batch, n_heads, L, d_k)
        return np.einsum("blm,mhd->bhld", a, w.reshape(d_model, n_heads, d_k))

    q = heads(x, params["w_q"])
    k, v = heads(x, params["w_k"]), heads(x, params["w_v"])  # BUG: from context: heads(context, params["w_k"]), ...
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = np.einsum("bhqk,bhkd->bqhd", weights, v).reshape(batch, n_queries, d_model)
    return out @ params["w_o"]
