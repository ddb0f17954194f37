"""broadcast keys' and values' gradients left at the broadcast shape, in an einsum backward

Bug: a hand-written scaled_dot_product_attention_backward, written with einsum over explicit
broadcast copies of k and v, returns their gradients with the copies' shape.
Measured: with k and v of shape (2, 1, 5, d) shared by 3 heads of q, dk and dv come back
(2, 3, 5, d); summed over that axis they are the expected gradients.
"""

import numpy as np

from attention_conformance.reference.attention import scaled_dot_product_attention, softmax


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    k = np.broadcast_to(k, lead + k.shape[-2:])
    v = np.broadcast_to(v, lead + v.shape[-2:])
    scale = 1 / np.sqrt(q.shape[-1])
    scores = np.einsum("...qd,...kd->...qk", q, k) * scale
    if mask is not None:
        scores = scores + mask
    p = softmax(scores)
    d_p = np.einsum("...qd,...kd->...qk", d_out, v)
    d_s = p * (d_p - np.sum(p * d_p, axis=-1, keepdims=True))
    d_q = np.einsum("...qk,...kd->...qd", d_s, k) * scale
    d_k = np.einsum("...qk,...qd->...kd", d_s, q) * scale  # BUG: not summed back to k's shape
    d_v = np.einsum("...qk,...qd->...kd", p, d_out)  # BUG: nor to v's
    return d_q, d_k, d_v
