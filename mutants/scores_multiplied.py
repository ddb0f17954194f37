"""scores multiplied by sqrt(d_k), not divided

Mistake: scaled_dot_product_attention multiplies q @ k^T by sqrt(d_k) instead of dividing.
Symptom: the scores are d_k times too large, so the weights collapse onto one key as heads widen.
Fix: scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k).
Seen in: esceptico/perceiver-io#9
Measured: scores scaled by sqrt(d_k) instead of 1/sqrt(d_k)
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) * np.sqrt(d_k)  # BUG: multiplied, not divided
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
