"""values projected with the query weights

Bug: the projections are written out one per line and the third copies the first's weights:
v = x @ params["w_q"].
Measured: params["w_v"] plays no role (changing it leaves the output unchanged); w_q plays two:
the queries' and the values'. The attention weights are right.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def _project(x, params, n_heads):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_heads)
    v = split_heads(x @ params["w_q"], n_heads)  # BUG: params["w_v"]
    return q, k, v


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = _project(x, params, n_heads)
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = _project(x_new, params, n_heads)
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)
        v = np.concatenate([cache["v"], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    out, _ = scaled_dot_product_attention(q, k, v, create_causal_mask(total)[total - n:])
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
