"""decode step whose cache keeps only the latest position

Bug: decode_step attends over the cached keys and values plus its own, then returns a cache
holding only its own key and value: the next step sees just one position of history.
Measured: step t sees positions t-1..t instead of 0..t (a sliding window of 2 where the mask is
causal); steps 0 and 1 are right. A 72-step check is measured on its first 12 steps.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def decode_step(x_t, params, n_heads, cache=None):
    # (batch, n_heads, 1, d_k) each
    q, k_t, v_t = (split_heads(x_t @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    k, v = k_t, v_t
    if cache is not None:
        k = np.concatenate([cache["k"], k_t], axis=2)  # (batch, n_heads, t + 1, d_k)
        v = np.concatenate([cache["v"], v_t], axis=2)
    out, _ = scaled_dot_product_attention(q, k, v)  # the newest position sees every key given
    return merge_heads(out) @ params["w_o"], {"k": k_t, "v": v_t}  # BUG: the history is dropped; return k, v
