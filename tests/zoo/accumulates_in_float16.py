"""products summed in float16

Bug: scaled_dot_product_attention casts q, k (and the weights and v) to float16 for its two
np.einsum products, to save memory, and casts back: the formula is right, the arithmetic is not
the run's. In a float16 run this is what a float16 kernel may do; in float64 it loses 13 digits.
Measured: precision: in a float64 run the outputs are right to about 3 digits (errors around
1e-3, float16's unit roundoff 2^-11 = 4.9e-4 times the values), far outside float64's 1e-10 and
float32's 1e-5; no scale, visibility or role is wrong.
"""

import numpy as np

from attention_conformance.reference.attention import softmax

LOW = np.float16  # BUG: both products are computed and summed in float16, not in the inputs' dtype


def scaled_dot_product_attention(q, k, v, mask=None):
    dtype = np.result_type(q, k, v)
    scores = np.einsum("...qd,...kd->...qk", q.astype(LOW), k.astype(LOW))
    scores = scores.astype(dtype) / np.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    out = np.einsum("...qk,...kd->...qd", weights.astype(LOW), v.astype(LOW))
    return out.astype(dtype), weights
