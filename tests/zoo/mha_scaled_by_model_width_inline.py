"""multi-head attention written inline, scaled by the model's width

Bug: multi_head_attention, written with einsum on a (batch, seq, heads, d_k) layout without
calling scaled dot-product attention, divides the scores by sqrt(x.shape[-1]), the model's
width d_model, instead of sqrt(d_k), the width of one head.
Measured: the scores are multiplied by 1/sqrt(d_model) = 1/sqrt(n_heads * d_k) instead of
1/sqrt(d_k) (d_model 16, 4 heads: 0.25 instead of 0.5); right with one head.
"""

import numpy as np


def multi_head_attention(x, params, n_heads, mask=None):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    q, k, v = ((x @ params[name]).reshape(batch, seq, n_heads, d_k) for name in ("w_q", "w_k", "w_v"))
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(x.shape[-1])  # BUG: sqrt(d_model), not sqrt(d_k)
    if mask is not None:
        scores = scores + mask  # (batch, n_heads, seq, seq)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, seq, d_model)  # heads side by side
    return out @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    future = np.tri(seq, seq, -1, dtype=bool).T  # (seq, seq): True above the diagonal
    return multi_head_attention(x, params, n_heads, np.where(future, -np.inf, 0.0))
