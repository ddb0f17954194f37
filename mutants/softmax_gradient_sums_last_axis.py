"""softmax gradient summed over the last axis whatever the axis

Mistake: softmax_backward takes the softmax along `axis` but sums y * d_out over the last axis.
Symptom: right for axis=-1 (so attention's gradients are right), wrong for any other axis: the
gradient's slices along the axis asked for do not sum to zero.
Fix: sum over the softmax's own axis: np.sum(y * d_out, axis=axis, keepdims=True).
"""

import numpy as np

from attention_conformance.mutants import complete


def softmax_backward(x, d_out, axis=-1):
    y = softmax(x, axis=axis)
    return y * (d_out - np.sum(y * d_out, axis=-1, keepdims=True))  # BUG: -1 whatever the axis


complete(globals())
