"""softmax over the queries when the scores have a head axis

Mistake: scaled_dot_product_attention normalises the scores over axis 2: the keys of 3-D
scores (batch, Lq, Lk), but the queries of 4-D ones (batch, heads, Lq, Lk).
Symptom: right without heads, wrong with them: multi-head attention, which always has a head
axis, is wrong throughout.
Fix: name the keys' axis from the end: softmax(scores, axis=-1).
Seen in: FudanNLP/fastNLP#254
"""

import numpy as np

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores, axis=2)  # BUG: axis 2 is the keys only for 3-D scores
    return weights @ v, weights


complete(globals())
