"""key gradient without the scores' factor, in an einsum backward

Bug: a hand-written scaled_dot_product_attention_backward, written with einsum, multiplies dq by
1/sqrt(d_k) as the scores were, and forgets the factor in dk.
Measured: dq is right; dk is sqrt(d_k) times the expected gradient at every value (d_k = 4: 2).
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention, softmax
from attention_conformance.reference.backward import unbroadcast


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = np.einsum("...qd,...kd->...qk", q, k) * scale
    if mask is not None:
        scores = scores + mask
    p = softmax(scores)
    d_p = np.einsum("...qd,...kd->...qk", d_out, v)
    d_s = p * (d_p - np.einsum("...qk,...qk->...q", p, d_p)[..., None])
    d_q = np.einsum("...qk,...kd->...qd", d_s, k) * scale
    d_k = np.einsum("...qk,...qd->...kd", d_s, q)  # BUG: the scores' factor 1/sqrt(d_k) left out
    d_v = np.einsum("...qk,...qd->...kd", p, d_out)
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)
