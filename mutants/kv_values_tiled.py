"""values repeated in another order than the keys

Mistake: grouped_query_attention repeats the keys for each group (np.repeat) but the values as
a whole (np.tile): a half-done fix.
Symptom: the weights are right, the values they average are another head's, unless
n_kv_heads is 1 or n_heads.
Fix: repeat keys and values the same way: np.repeat(v, group, axis=1).
Measured: query head h weighs the keys of key/value head h // (n_heads / n_kv_heads) but averages the
values of head h % n_kv_heads (the values tiled, not the keys)
"""

import numpy as np

from attention_conformance.mutants import complete


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_kv_heads)
    v = split_heads(x @ params["w_v"], n_kv_heads)
    group = n_heads // n_kv_heads
    k = np.repeat(k, group, axis=1)
    v = np.tile(v, (1, group, 1, 1))  # BUG: tiled values, repeated keys
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]


complete(globals())
