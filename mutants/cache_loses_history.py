"""KV cache loses history

Mistake: decode_chunk ignores the cached keys and values: the new queries attend to the new
positions only, and the cache it returns holds them alone.
Symptom: the first call is right, every later one differs from the full causal forward; it
runs silently, with the right shapes.
Fix: concatenate the new keys and values onto the cached ones along the sequence axis, and
return them.
"""

import numpy as np

from attention_conformance.mutants import complete


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = project_heads(x_new, params, n_heads)
    # BUG: cache["k"] and cache["v"] are never concatenated: the history is lost
    n = q.shape[2]
    mask = np.where(np.arange(n) > np.arange(n)[:, None], -np.inf, 0.0)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


complete(globals())
