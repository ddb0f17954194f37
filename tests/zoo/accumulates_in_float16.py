"""products summed in float16

Bug: scaled_dot_product_attention casts q, k (and the weights and v) to float16 for its two
np.einsum products, to save memory, and casts back: the formula is right, the arithmetic is not
the run's. In a float16 run this is what a float16 kernel may do; in float64 it loses 13 digits.
Measured: precision: in a float64 run every output value is a float16 number and the outputs are
within float16's allowance (errors around 1e-3, float16's unit roundoff 2^-11 = 4.9e-4 times the
values), far outside float64's 1e-10: computing in float16 inside a float64 run.
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
