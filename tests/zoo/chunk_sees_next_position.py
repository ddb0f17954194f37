"""chunked decoding whose new positions see the next one

Bug: decode_chunk builds the new positions' mask with np.triu(..., k=t + 2), t the number of
cached positions, where k=t + 1 was meant: new query i (at position t + i) also sees key t + i + 1.
Measured: new query i sees keys 0..t+i+1 instead of 0..t+i: one position of the chunk's future;
the last position of each chunk is right, so decode_step (chunks of one) is right.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = (split_heads(x_new @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    cached = 0 if cache is None else cache[0].shape[2]
    if cache is not None:
        k = np.concatenate([cache[0], k], axis=2)  # (batch, n_heads, t + n, d_k)
        v = np.concatenate([cache[1], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    mask = np.triu(np.full((n, total), -np.inf), k=cached + 2)  # BUG: k=cached + 1 hides key t + i + 1
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"], (k, v)


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
