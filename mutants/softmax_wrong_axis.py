"""softmax over the wrong axis

Mistake: scaled_dot_product_attention normalises the scores over the queries (axis -2).
Symptom: the weights of each query no longer sum to one over the keys; it runs silently,
with the right shapes.
Fix: normalise the scores over the keys, their last axis: softmax(scores, axis=-1).
Measured: the weights sum to one over the queries, not over the keys (the softmax over axis -2)
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores, axis=-2)  # BUG: over the queries, not the keys
    return weights @ v, weights


complete(globals())
