"""value gradient without transposing the weights

Mistake: scaled_dot_product_attention_backward computes dv = weights @ d_out, not
weights^T @ d_out: out = weights @ v, so each value's gradient gathers over the queries.
Symptom: with as many queries as keys it runs and dv is wrong (the values' and the layers' dx,
the value weights' gradient); with Lq != Lk the product does not fit and it raises.
Fix: d_v = weights.swapaxes(-1, -2) @ d_out.
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) * scale
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    d_v = weights @ d_out  # BUG: weights, not weights^T
    d_weights = d_out @ v.swapaxes(-1, -2)
    d_scores = softmax_backward(scores, d_weights)
    d_q = d_scores @ k * scale
    d_k = d_scores.swapaxes(-1, -2) @ q * scale
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


complete(globals())
