"""scores scaled by the value width

Bug: scaled_dot_product_attention divides the scores by sqrt(v.shape[-1]), the width of the
values, where the contract divides by sqrt(d_k), the width of the queries and keys. The two
are the same in most models (d_v == d_k), so the slip hides until they differ.
Measured: the scores are multiplied by 1/sqrt(d_v) instead of 1/sqrt(d_k): a factor
sqrt(d_k / d_v) too large (q 4 wide, v 6 wide: 0.408 instead of 0.5); right whenever d_v == d_k.
"""

import numpy as np

from attention_conformance.reference.attention import softmax


def scaled_dot_product_attention(q, k, v, mask=None):
    width = v.shape[-1]  # BUG: the values' width d_v, not the keys' d_k = q.shape[-1]
    scores = np.matmul(q, np.swapaxes(k, -1, -2)) / np.sqrt(width)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores, axis=-1)
    return np.matmul(weights, v), weights  # (..., Lq, d_v), (..., Lq, Lk)
