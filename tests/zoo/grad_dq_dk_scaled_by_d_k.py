"""query and key gradients divided by d_k

Bug: a hand-written scaled_dot_product_attention_backward divides dq and dk by d_k, where the
forward divides the scores by sqrt(d_k): the square root forgotten in the backward only.
Measured: dq and dk are 1/sqrt(d_k) times the expected gradients at every value (d_k = 4: 0.5);
dv is right.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention, softmax
from attention_conformance.reference.backward import unbroadcast


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    p = softmax(scores)
    d_p = d_out @ np.swapaxes(v, -1, -2)
    d_s = p * (d_p - np.sum(p * d_p, axis=-1, keepdims=True))
    d_q = d_s @ k / d_k  # BUG: / d_k, where the forward divides by sqrt(d_k)
    d_k_ = np.swapaxes(d_s, -1, -2) @ q / d_k  # BUG: the same
    d_v = np.swapaxes(p, -1, -2) @ d_out
    return unbroadcast(d_q, q.shape), unbroadcast(d_k_, k.shape), unbroadcast(d_v, v.shape)
