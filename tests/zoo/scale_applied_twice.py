"""scale applied to the queries and again to the scores

Bug: scaled_dot_product_attention scales the queries by 1/sqrt(d_k) (as PyTorch's
MultiheadAttention does, to keep the product small) and then divides the scores by sqrt(d_k)
as well: two halves of two different recipes.
Measured: the scores are multiplied by 1/d_k = (1/sqrt(d_k))^2 instead of 1/sqrt(d_k) (d_k = 4:
0.25 instead of 0.5); right when d_k == 1. Every layer built on it inherits it, with d_k the head width.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, softmax
from attention_conformance.reference.heads import merge_heads, split_heads


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    q = q * (1.0 / np.sqrt(d_k))  # scale the queries first, as nn.MultiheadAttention does
    scores = q @ np.swapaxes(k, -1, -2)
    scores = scores / np.sqrt(d_k)  # BUG: the queries were already scaled: this is a second 1/sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    group = n_heads // n_kv_heads
    q = split_heads(x @ params["w_q"], n_heads)
    k = np.repeat(split_heads(x @ params["w_k"], n_kv_heads), group, axis=1)  # (batch, n_heads, seq, d_k)
    v = np.repeat(split_heads(x @ params["w_v"], n_kv_heads), group, axis=1)
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]
