"""causal mask hides the diagonal

Mistake: create_causal_mask hides key j >= i instead of j > i: each position cannot see itself.
Symptom: the first position sees no key at all (NaN), every other one misses its own.
Fix: hide only the future: np.where(key > query, -np.inf, 0.0).
Seen in: pbloem/former#10
Measured: each query is hidden from its own position (the diagonal is masked); each query is hidden
from its own key (the causal mask one key off)
"""

import numpy as np

from attention_conformance.mutants import complete


def create_causal_mask(seq_len):
    query = np.arange(seq_len)[:, None]
    key = np.arange(seq_len)
    return np.where(key >= query, -np.inf, 0.0)  # BUG: >= hides the diagonal too


complete(globals())
