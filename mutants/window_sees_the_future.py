"""sliding window that sees the future

Mistake: create_sliding_window_mask keeps keys with |i - j| < window: a window centred on the
query instead of ending at it.
Symptom: each query sees up to window - 1 later positions: causality is lost.
Fix: keep 0 <= i - j < window: only the query and the positions before it.
"""

import numpy as np

from attention_conformance.mutants import complete


def create_sliding_window_mask(seq_len, window):
    query = np.arange(seq_len)[:, None]
    key = np.arange(seq_len)
    behind = query - key
    return np.where(np.abs(behind) < window, 0.0, -np.inf)  # BUG: both sides of the query


complete(globals())
