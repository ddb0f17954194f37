"""grouped-query attention that deals the features to the heads in turn

Bug: grouped_query_attention splits its projections with reshape(batch, seq, d_k, heads) and a
transpose, so head h gets features h, h + heads, h + 2 heads, ... instead of the block
[h*d_k, (h+1)*d_k); the merge puts the heads back in blocks. For one head the two agree.
Measured: query head h reads columns h, h + n_heads, ... of w_q (and key/value head g columns
g, g + n_kv_heads, ... of w_k, w_v) instead of [h*d_k, (h+1)*d_k); right when n_heads == n_kv_heads == 1.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads


def _split(a, n):
    batch, seq, width = a.shape
    # blocks would be a.reshape(batch, seq, n, width // n).transpose(0, 2, 1, 3)
    return a.reshape(batch, seq, width // n, n).transpose(0, 3, 1, 2)  # BUG: head h gets features h, h + n, ...


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    group = n_heads // n_kv_heads
    q = _split(x @ params["w_q"], n_heads)  # (batch, n_heads, seq, d_k)
    k = np.repeat(_split(x @ params["w_k"], n_kv_heads), group, axis=1)  # (batch, n_heads, seq, d_k)
    v = np.repeat(_split(x @ params["w_v"], n_kv_heads), group, axis=1)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]
