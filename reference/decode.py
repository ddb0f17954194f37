"""Incremental decoding with a key/value cache: one position at a time, or a chunk of several."""

import numpy as np

from .attention import create_causal_mask, scaled_dot_product_attention
from .heads import merge_heads, project_heads


def decode_chunk(x_new, params, n_heads, cache=None):
    """x_new (batch, n, d_model), the next n positions -> (y_new (batch, n, d_model), cache).

    The cache holds the keys and values of every earlier position, {"k": ..., "v": ...},
    each (batch, n_heads, t, d_k); None means no position yet.
    """
    q, k, v = project_heads(x_new, params, n_heads)  # (batch, n_heads, n, d_k) each
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)  # (batch, n_heads, t + n, d_k)
        v = np.concatenate([cache["v"], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    mask = create_causal_mask(total)[-n:]  # (n, total): the rows of the new positions, aligned bottom right
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # (batch, n_heads, n, d_k)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


def decode_step(x_t, params, n_heads, cache=None):
    """x_t (batch, 1, d_model), the newest position -> (y_t (batch, 1, d_model), cache): a chunk of one."""
    return decode_chunk(x_t, params, n_heads, cache)
