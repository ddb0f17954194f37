"""0 * -inf gives NaN

Mistake: create_causal_mask multiplies a 0/1 upper-triangular matrix by -inf.
Symptom: 0 * -inf is NaN: every kept entry of the mask is NaN, and so is every output.
Fix: choose between the two values, np.where(key > query, -np.inf, 0.0), or fill with
np.full(..., -np.inf) and np.triu; never multiply by an infinity.
"""

import numpy as np

from attention_conformance.mutants import complete


def create_causal_mask(seq_len):
    future = np.triu(np.ones((seq_len, seq_len)), k=1)
    return future * -np.inf  # BUG: 0 * -inf is NaN where the mask should be 0


complete(globals())
