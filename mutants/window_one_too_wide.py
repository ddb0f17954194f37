"""sliding window one position too wide

Mistake: create_sliding_window_mask keeps keys with 0 <= i - j <= window instead of < window.
Symptom: each query sees window + 1 positions: right only when the window covers everything.
Fix: keep 0 <= i - j < window: the query itself and the window - 1 positions before it.
"""

import numpy as np

from attention_conformance.mutants import complete


def create_sliding_window_mask(seq_len, window):
    query = np.arange(seq_len)[:, None]
    key = np.arange(seq_len)
    behind = query - key
    return np.where((behind >= 0) & (behind <= window), 0.0, -np.inf)  # BUG: <= window


complete(globals())
