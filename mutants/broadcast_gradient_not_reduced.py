"""gradients of broadcast inputs not summed back

Mistake: scaled_dot_product_attention_backward returns dq, dk and dv in the broadcast shape of
the computation, without summing the gradient of every copy back onto an input that
broadcasting stretched (a missing leading axis, an axis of 1).
Symptom: right when q, k and v have the same shape; when one is broadcast (keys and values
shared across the batch or the heads) its gradient has the wrong shape: too many axes or an
axis of 1 grown.
Fix: sum over the axes broadcasting added or stretched: np.sum over the leading axes it lacks,
then over its axes of 1 with keepdims=True.
Seen in: deeplearning4j/nd4j#2424
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) * scale
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    d_v = weights.swapaxes(-1, -2) @ d_out
    d_weights = d_out @ v.swapaxes(-1, -2)
    d_scores = softmax_backward(scores, d_weights)
    d_q = d_scores @ k * scale
    d_k = d_scores.swapaxes(-1, -2) @ q * scale
    return d_q, d_k, d_v  # BUG: not summed back to q's, k's and v's shapes


complete(globals())
