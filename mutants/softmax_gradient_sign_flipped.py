"""softmax gradient with its sign flipped

Mistake: softmax_backward computes y * (sum(y * d_out) - d_out), the two terms of the
Jacobian-vector product subtracted the wrong way round.
Symptom: every gradient through the softmax points the opposite way: dx of softmax, dq and dk of
attention come out as minus the right ones (dv, which does not go through it, stays right);
training climbs the loss instead of descending it.
Fix: dx = y * (d_out - sum(y * d_out, axis, keepdims=True)).
"""

import numpy as np

from attention_conformance.mutants import complete


def softmax_backward(x, d_out, axis=-1):
    y = softmax(x, axis=axis)
    return y * (np.sum(y * d_out, axis=axis, keepdims=True) - d_out)  # BUG: the terms swapped


complete(globals())
