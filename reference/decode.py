"""Incremental decoding with a key/value cache."""

import numpy as np

from .attention import scaled_dot_product_attention
from .heads import merge_heads, project_heads


def decode_step(x_t, params, n_heads, cache=None):
    """x_t (batch, 1, d_model), the newest position -> (y_t (batch, 1, d_model), cache).

    The cache holds the keys and values of every earlier position, {"k": ..., "v": ...},
    each (batch, n_heads, t, d_k); None means no position yet.
    """
    q, k, v = project_heads(x_t, params, n_heads)  # (batch, n_heads, 1, d_k) each
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)  # (batch, n_heads, t + 1, d_k)
        v = np.concatenate([cache["v"], v], axis=2)
    out, _ = scaled_dot_product_attention(q, k, v)  # the newest query sees every key: no mask
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}
