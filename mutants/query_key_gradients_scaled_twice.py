"""query and key gradients scaled twice

Mistake: scaled_dot_product_attention_backward multiplies d_scores by 1 / sqrt(d_k) and then
multiplies dq and dk by it again.
Symptom: dq and dk are sqrt(d_k) times too small (dv is right); with d_k == 1 it happens to be
right. The layers' dx and the query and key weights' gradients are off too.
Fix: apply the scale once: d_scores = softmax_backward(scores, d_weights), d_q = d_scores @ k * scale.
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
    d_scores = softmax_backward(scores, d_weights) * scale  # BUG: scaled here and again below
    d_q = d_scores @ k * scale
    d_k = d_scores.swapaxes(-1, -2) @ q * scale
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


complete(globals())
