"""mask added to batch row 0 only

Bug: scaled_dot_product_attention broadcasts the mask to the scores' shape and adds it with
`scores[0] += mask[0]`, written while testing on one sequence: only the first batch row is masked.
Measured: batch row 0 sees the keys the mask keeps; rows 1.. see every key 0..Lk-1 (their
padding and, for causal self-attention, the future). Right for a batch of one, or without a mask.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, softmax
from attention_conformance.reference.heads import merge_heads, split_heads


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (..., Lq, Lk)
    if mask is not None:
        mask = np.broadcast_to(mask, scores.shape)
        if scores.ndim == 2:
            scores = scores + mask
        else:
            scores = scores.copy()
            scores[0] += mask[0]  # BUG: the first batch row only; scores + mask masks every row
    weights = softmax(scores)
    return weights @ v, weights


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))


def cross_attention(x, context, params, n_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k, v = (split_heads(context @ params[name], n_heads) for name in ("w_k", "w_v"))
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]
