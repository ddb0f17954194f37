"""decoding history stacked along the batch axis

Bug: decode_chunk keeps the inputs of every position so far as a list of (batch, 1, d_model)
slices, and rebuilds the prefix with np.concatenate(..., axis=0) and a reshape to
(batch, t, d_model), where axis=1 (the sequence axis) was meant. For one sequence the two agree.
Measured: batch row b's keys and values are positions of the wrong batch rows (row 0 of a batch
of 2 sees row 0's and row 1's first positions as its history); right for a batch of one.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def decode_chunk(x_new, params, n_heads, cache=None):
    batch, n, d_model = x_new.shape
    rows = list(cache or []) + [x_new[:, t : t + 1] for t in range(n)]  # one (batch, 1, d_model) slice per position
    prefix = np.concatenate(rows, axis=0).reshape(batch, -1, d_model)  # BUG: axis 0 stacks batch rows; axis=1
    total = prefix.shape[1]
    q = split_heads(x_new @ params["w_q"], n_heads)  # (batch, n_heads, n, d_k)
    k, v = (split_heads(prefix @ params[name], n_heads) for name in ("w_k", "w_v"))  # (batch, n_heads, total, d_k)
    after = np.arange(total)[None, :] > np.arange(total - n, total)[:, None]  # (n, total)
    out, _ = scaled_dot_product_attention(q, k, v, np.where(after, -np.inf, 0.0))
    return merge_heads(out) @ params["w_o"], rows


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
