"""the cached step leaves out its own key and value

Mistake: decode_chunk attends to the cached keys and values only, adding the new ones to the
cache it returns but not to the attention.
Symptom: the first call (no cache) is right; each later position cannot see itself.
Fix: concatenate the new keys and values onto the cache before the attention, not after.
Seen in: harvard-edge/cs249r_book#1953
"""

import numpy as np

from attention_conformance.mutants import complete


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = project_heads(x_new, params, n_heads)
    n = q.shape[2]
    if cache is None:
        mask = np.where(np.arange(n) > np.arange(n)[:, None], -np.inf, 0.0)
        out, _ = scaled_dot_product_attention(q, k, v, mask)
        return merge_heads(out) @ params["w_o"], {"k": k, "v": v}
    out, _ = scaled_dot_product_attention(q, cache["k"], cache["v"])  # BUG: the new keys left out
    k = np.concatenate([cache["k"], k], axis=2)
    v = np.concatenate([cache["v"], v], axis=2)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


complete(globals())
