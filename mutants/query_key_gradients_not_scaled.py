"""query and key gradients not scaled

Mistake: scaled_dot_product_attention_backward computes dq = d_scores @ k and dk = d_scores^T @ q
without the factor 1 / sqrt(d_k) that the forward pass multiplied the scores by.
Symptom: dq and dk are sqrt(d_k) times too large (dv is right); with d_k == 1 it happens to be
right. The layers' dx and the query and key weights' gradients are off too.
Fix: multiply both by the same scale as the forward pass: d_q = d_scores @ k * scale.
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
    d_q = d_scores @ k  # BUG: the scale forgotten
    d_k = d_scores.swapaxes(-1, -2) @ q  # BUG: the scale forgotten
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


complete(globals())
