"""grouped-query attention whose keys come from the value weights

Bug: grouped_query_attention projects its keys and values in one line,
`k, v = (x @ params["w_v"] for _ in range(2))`, a tidy-up that lost the key weights.
Measured: params["w_k"] plays no role (changing it leaves the output unchanged); w_v plays two:
the keys' and the values'.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)  # (batch, n_heads, seq, d_k)
    k, v = (x @ params["w_v"] for _ in range(2))  # BUG: the keys are x @ params["w_k"]
    kv_head = np.arange(n_heads) // (n_heads // n_kv_heads)  # query head h uses key/value head h // group
    k = split_heads(k, n_kv_heads)[:, kv_head]  # (batch, n_heads, seq, d_k)
    v = split_heads(v, n_kv_heads)[:, kv_head]
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]
