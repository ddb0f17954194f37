"""backward recomputes the weights without the mask

Mistake: scaled_dot_product_attention_backward recomputes the scores and the weights without
adding the mask, although the forward pass added it.
Symptom: right without a mask; with one, the gradient flows to the keys and values the forward
pass hid (their dk and dv are not zero) and dq is off: padding and causal masks alike, so
causal self-attention's gradients are always wrong.
Fix: add the mask to the scores before the softmax in the backward pass too.
Seen in: Dao-AILab/flash-attention#2424
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) * scale  # BUG: the mask never added
    weights = softmax(scores)
    d_v = weights.swapaxes(-1, -2) @ d_out
    d_weights = d_out @ v.swapaxes(-1, -2)
    d_scores = softmax_backward(scores, d_weights)
    d_q = d_scores @ k * scale
    d_k = d_scores.swapaxes(-1, -2) @ q * scale
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


complete(globals())
