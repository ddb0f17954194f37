"""scores scaled by the number of queries

Bug: scaled_dot_product_attention reads the scale from q.shape[-2], the number of queries,
where it wanted q.shape[-1], the width of each query: the wrong end of the shape.
Measured: the scores are multiplied by 1/sqrt(Lq) instead of 1/sqrt(d_k) (3 queries of width 4:
0.577 instead of 0.5); right when Lq == d_k. The layers built on it inherit it, with Lq = seq.
"""

import math

import numpy as np

from attention_conformance.reference.heads import merge_heads, split_heads


def _softmax_last(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(q, k, v, mask=None):
    n_queries = q.shape[-2]  # BUG: the number of queries Lq, not the width d_k = q.shape[-1]
    scores = np.einsum("...qd,...kd->...qk", q, k) / math.sqrt(n_queries)
    if mask is not None:
        scores = scores + mask
    weights = _softmax_last(scores)
    return np.einsum("...qk,...kd->...qd", weights, v), weights


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # (batch, n_heads, seq, d_k)
    return merge_heads(out) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    return multi_head_attention(x, params, n_heads, np.triu(np.full((seq, seq), -np.inf), k=1))
