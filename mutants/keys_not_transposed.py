"""wrong transpose of the keys

Mistake: scaled_dot_product_attention computes q @ k instead of q @ k^T.
Symptom: a shape error when seq_len != d_k; when seq_len == d_k it runs silently and
multiplies each query with the columns of k instead of its rows: wrong weights.
Fix: use q @ k.swapaxes(-1, -2): swap the last two axes of k, whatever its number of axes.
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k / np.sqrt(d_k)  # BUG: k not transposed: (..., Lq, d_k) @ (..., Lk, d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
