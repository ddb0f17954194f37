"""softmax shifted by the global max, not each row's

Mistake: softmax subtracts the largest logit of the whole array instead of each slice's own max.
Symptom: right while every row has similar logits; a row far below the largest underflows to
0 / 0 and its weights become NaN.
Fix: subtract np.max(x, axis=axis, keepdims=True): each slice's own max.
"""

import numpy as np

from attention_conformance.mutants import complete


def softmax(x, axis=-1):
    shifted = x - np.max(x)  # BUG: the array's max, not each row's
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


complete(globals())
