"""scale hard-coded to 0.125

Bug: scaled_dot_product_attention multiplies the scores by 0.125 = 1/sqrt(64), the scale of
the model it was first written for (heads of 64), whatever the width of the heads it is given.
Measured: the scores are multiplied by 0.125 = 1/sqrt(8^2), a constant, instead of 1/sqrt(d_k)
(d_k = 4: 0.125 instead of 0.5); right exactly when d_k == 64. The cached decoding built on it
inherits it.
"""

import numpy as np

from attention_conformance.reference.attention import softmax
from attention_conformance.reference.heads import merge_heads, split_heads

SCALE = 0.125  # BUG: 1/sqrt(64), fixed for heads of 64, where the contract asks 1/sqrt(d_k)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = (q @ k.swapaxes(-1, -2)) * SCALE
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = (split_heads(x_new @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    if cache is not None:
        k = np.concatenate([cache[0], k], axis=2)  # (batch, n_heads, t + n, d_k)
        v = np.concatenate([cache[1], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    later = np.arange(total) > np.arange(total - n, total)[:, None]  # (n, total): key after the query
    out, _ = scaled_dot_product_attention(q, k, v, np.where(later, -np.inf, 0.0))
    return merge_heads(out) @ params["w_o"], (k, v)


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
