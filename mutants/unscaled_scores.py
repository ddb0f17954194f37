"""scores not scaled

Mistake: scaled_dot_product_attention computes q @ k^T without dividing by sqrt(d_k).
Symptom: the scores grow with d_k, so the softmax saturates towards one key; the shapes are
right and nothing raises, only the values are wrong (except when d_k == 1).
Fix: divide q @ k^T by sqrt(d_k), d_k being the last axis of q, before the softmax.
Measured: scores scaled by 1 (not scaled) instead of 1/sqrt(d_k)
"""

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.swapaxes(-1, -2)  # BUG: not divided by sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
