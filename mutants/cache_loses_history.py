"""KV cache loses history

Mistake: decode_step ignores the cached keys and values: the newest query attends to itself
only, and the cache it returns holds the newest position alone.
Symptom: step 0 is right, every later step differs from the full causal forward; it runs
silently, with the right shapes.
Fix: concatenate the new keys and values onto the cached ones along the sequence axis, and
return them.
"""

from attention_conformance.mutants import complete


def decode_step(x_t, params, n_heads, cache=None):
    q, k, v = project_heads(x_t, params, n_heads)
    # BUG: cache["k"] and cache["v"] are never concatenated: the history is lost
    out, _ = scaled_dot_product_attention(q, k, v)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


complete(globals())
