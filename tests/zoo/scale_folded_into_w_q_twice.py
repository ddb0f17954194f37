"""scale folded into w_q, and applied again by the attention

Bug: the layers fold 1/sqrt(d_k) into the query weights (w_q / sqrt(d_k), an inference
engine's trick to save a multiplication) but still call a scaled dot-product attention that
divides by sqrt(d_k) itself: the scale is applied twice. scaled_dot_product_attention alone is right.
Measured: in the layers the scores are multiplied by 1/d_k instead of 1/sqrt(d_k), d_k the
head width (d_model 8, 2 heads: 0.25 instead of 0.5); right when d_k == 1. The parameters'
roles are right: changing w_q still changes the output, only its size is off by 1/sqrt(d_k).
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def _projections(x, params, n_heads):
    d_k = x.shape[-1] // n_heads
    w_q = params["w_q"] / np.sqrt(d_k)  # BUG: folds the scale into w_q, and the attention below scales again
    return (split_heads(x @ w, n_heads) for w in (w_q, params["w_k"], params["w_v"]))


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = _projections(x, params, n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # divides by sqrt(d_k) itself
    return merge_heads(out) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = _projections(x_new, params, n_heads)
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)
        v = np.concatenate([cache["v"], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    out, _ = scaled_dot_product_attention(q, k, v, create_causal_mask(total)[total - n:])
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
