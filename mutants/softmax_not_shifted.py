"""softmax without subtracting the max

Mistake: softmax computes exp(x) / sum(exp(x)) without subtracting each row's max first.
Symptom: right for small logits; exp overflows to inf for logits near 1000 and the weights
become NaN (inf / inf), and a row of very negative logits underflows to 0 / 0.
Fix: subtract np.max(x, axis=axis, keepdims=True) before exp; the softmax does not change.
"""

import numpy as np

from attention_conformance.mutants import complete


def softmax(x, axis=-1):
    e = np.exp(x)  # BUG: no max subtracted: exp(1000) overflows
    return e / np.sum(e, axis=axis, keepdims=True)


complete(globals())
