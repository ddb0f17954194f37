"""packed sliding window one key too wide

Mistake: varlen_attention keeps keys j >= i + Lk - Lq - window instead of j > i + Lk - Lq - window:
each query sees window + 1 keys, the window counted from the key before its own.
Symptom: right for queries nearer the start of their sequence than the window; later ones see one
old key too many.
Fix: the window holds the query's own key and the window - 1 keys before it.
"""

import numpy as np

from attention_conformance.mutants import complete


def packed_mask(n_q, n_k, causal, window):
    if not causal and window is None:
        return None
    offset = n_k - n_q
    seen = np.tri(n_q, n_k, k=offset, dtype=bool)
    if window is not None:
        seen &= ~np.tri(n_q, n_k, k=offset - window - 1, dtype=bool)  # BUG: window + 1 keys
    return np.where(seen, 0.0, -np.inf)


complete(globals())
