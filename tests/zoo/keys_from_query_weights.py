"""keys projected with the query weights

Bug: multi_head_attention, written with einsum over a stacked (3, d_model, d_model) weight
tensor, stacks w_q where w_k belongs: the keys are x @ w_q.
Measured: params["w_k"] plays no role (changing it leaves the output unchanged); w_q plays
two: the queries' and the keys' (scores q q^T / sqrt(d_k), symmetric).
"""

import numpy as np


def multi_head_attention(x, params, n_heads, mask=None):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    w = np.stack([params["w_q"], params["w_q"], params["w_v"]])  # BUG: the middle one must be params["w_k"]
    q, k, v = np.einsum("bsm,cmn->cbsn", x, w).reshape(3, batch, seq, n_heads, d_k).transpose(0, 1, 3, 2, 4)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)  # (batch, n_heads, seq, seq)
    if mask is not None:
        scores = scores + mask
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d_model)  # (batch, seq, d_model)
    return out @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    return multi_head_attention(x, params, n_heads, np.triu(np.full((seq, seq), -np.inf), k=1))
