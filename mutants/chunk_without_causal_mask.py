"""cached chunk without its causal mask

Mistake: decode_chunk skips the causal mask whenever a cache is attached: right for one new
position, wrong for several.
Symptom: decoding one position at a time is right; a chunk of several after a cache lets each
new position see the ones after it.
Fix: always mask: new query i (at position t + i) sees keys j <= t + i, the causal mask
aligned to the bottom right.
Seen in: immortal3/picoGPT, Mikyx-1/TinyLLM#17
"""

import numpy as np

from attention_conformance.mutants import complete


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = project_heads(x_new, params, n_heads)
    n = q.shape[2]
    mask = np.where(np.arange(n) > np.arange(n)[:, None], -np.inf, 0.0)
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)
        v = np.concatenate([cache["v"], v], axis=2)
        mask = None  # BUG: with a cache, no mask at all
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


complete(globals())
