"""causal mask aligned to the top left

Mistake: decode_chunk builds the causal mask of the new positions as if they came first:
query i sees keys j <= i instead of j <= t + i.
Symptom: with no cache it is right; after a cache, new positions miss most of the history.
Fix: align the mask to the bottom right: query i of n new ones sits at position total - n + i.
Seen in: pytorch/pytorch#108108, Dao-AILab/flash-attention#282
"""

import numpy as np

from attention_conformance.mutants import complete


def decode_chunk(x_new, params, n_heads, cache=None):
    q, k, v = project_heads(x_new, params, n_heads)
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)
        v = np.concatenate([cache["v"], v], axis=2)
    n, total = q.shape[2], k.shape[2]
    query = np.arange(n)[:, None]  # BUG: 0..n-1, not total - n .. total - 1
    mask = np.where(np.arange(total) > query, -np.inf, 0.0)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}


complete(globals())
