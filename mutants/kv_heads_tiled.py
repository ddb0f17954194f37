"""key/value heads repeated in the tiled order

Mistake: grouped_query_attention repeats the key/value heads as a whole (np.tile): query head
h gets key/value head h % n_kv_heads instead of h // (n_heads // n_kv_heads).
Symptom: right when n_kv_heads is 1 or n_heads; otherwise query heads meet the wrong keys.
Fix: repeat each key/value head for its group in turn: np.repeat(k, group, axis=1).
Seen in: onnx/onnx#7274
Measured: query head h reads key/value head h % n_kv_heads, not h // (n_heads / n_kv_heads) (the heads
tiled)
"""

import numpy as np

from attention_conformance.mutants import complete


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_kv_heads)
    v = split_heads(x @ params["w_v"], n_kv_heads)
    group = n_heads // n_kv_heads
    k = np.tile(k, (1, group, 1, 1))  # BUG: head h gets kv head h % n_kv_heads
    v = np.tile(v, (1, group, 1, 1))
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]


complete(globals())
