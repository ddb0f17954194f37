"""mask passed in and ignored

Mistake: scaled_dot_product_attention takes a mask and never adds it to the scores.
Symptom: every query attends to every key: padding and future positions leak in; without a
mask everything is right.
Fix: scores = scores + mask before the softmax, whenever a mask is given.
Measured: the mask passed in hides no key (every query sees every key)
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)  # BUG: the mask is never added
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
