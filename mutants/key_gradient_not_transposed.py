"""key gradient without transposing the score gradient

Mistake: scaled_dot_product_attention_backward computes dk = d_scores @ q * scale, not
d_scores^T @ q * scale: scores = q @ k^T, so each key's gradient gathers over the queries.
Symptom: with as many queries as keys it runs and dk is wrong (the keys' and the layers' dx, the
key weights' gradient); with Lq != Lk the product does not fit and it raises.
Fix: d_k = d_scores.swapaxes(-1, -2) @ q * scale.
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) * scale
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    d_v = weights.swapaxes(-1, -2) @ d_out
    d_weights = d_out @ v.swapaxes(-1, -2)
    d_scores = softmax_backward(scores, d_weights)
    d_q = d_scores @ k * scale
    d_k = d_scores @ q * scale  # BUG: d_scores, not d_scores^T
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


complete(globals())
