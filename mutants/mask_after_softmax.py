"""mask applied after softmax

Mistake: scaled_dot_product_attention zeroes the masked weights instead of adding the mask
to the scores.
Symptom: masked keys get weight 0 but still count in the softmax's denominator, so the rows
no longer sum to one; it runs silently, with the right shapes.
Fix: add the additive mask (0 / -inf) to the scores before the softmax; do not zero the
weights afterwards.
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    weights = softmax(scores)
    if mask is not None:
        weights = weights * (mask == 0)  # BUG: masked after the softmax: rows no longer sum to one
    return weights @ v, weights


complete(globals())
