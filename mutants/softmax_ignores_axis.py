"""softmax always over the last axis

Mistake: softmax normalises over the last axis whatever axis it is given.
Symptom: right for axis=-1 (so attention works), wrong for any other axis: the slices along
the axis asked for do not sum to one.
Fix: pass axis through to the max and the sum: np.max(x, axis=axis, keepdims=True).
"""

import numpy as np

from attention_conformance.mutants import complete


def softmax(x, axis=-1):
    shifted = x - np.max(x, axis=-1, keepdims=True)  # BUG: -1 whatever the axis asked for
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


complete(globals())
