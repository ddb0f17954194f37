"""value gradient from weights recomputed without the mask

Bug: a hand-written scaled_dot_product_attention_backward recomputes the weights with the mask for
dq and dk, but takes dv from the softmax of the unmasked scores (a second, careless recomputation).
Measured: dq and dk are right; dv is not 0 on the keys the mask hides from every query.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention, softmax
from attention_conformance.reference.backward import unbroadcast


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    raw = q @ np.swapaxes(k, -1, -2) * scale
    p = softmax(raw if mask is None else raw + mask)
    d_p = d_out @ np.swapaxes(v, -1, -2)
    d_s = p * (d_p - np.sum(p * d_p, axis=-1, keepdims=True))
    d_v = np.swapaxes(softmax(raw), -1, -2) @ d_out  # BUG: the mask left out of this recomputation
    d_q, d_k = d_s @ k * scale, np.swapaxes(d_s, -1, -2) @ q * scale
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)
