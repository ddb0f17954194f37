"""computing in float32 inside a float64 run

Mistake: scaled_dot_product_attention casts its inputs to float32 (a torch default, a
.float() in the wrong place).
Symptom: every value is right to about 7 digits and wrong beyond: float64 callers lose
precision silently.
Fix: compute in the dtype of the inputs; cast only where a library needs it, and back.
"""

import numpy as np

from attention_conformance.diagnosis import computes_in_float32 as evidence  # noqa: F401
from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    q, k, v = (a.astype(np.float32) for a in (q, k, v))  # BUG: float32 whatever the inputs
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.float32(np.sqrt(d_k))
    if mask is not None:
        scores = scores + mask.astype(np.float32)
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
