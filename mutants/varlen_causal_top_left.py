"""packed causal mask aligned to the top left

Mistake: varlen_attention aligns each sequence's causal mask to the top left, query i seeing
keys j <= i, as FlashAttention did before 2.1 and torch's is_causal does, instead of the bottom
right, j <= i + Lk - Lq (the queries are the sequence's last positions).
Symptom: right where a sequence has as many queries as keys; with fewer queries (a chunk over its
cache) each query misses the keys between it and the cache's end.
Fix: the sequence's query i sits at key position i + Lk - Lq: np.tri(Lq, Lk, k=Lk - Lq).
Seen in: Dao-AILab/flash-attention#402, Dao-AILab/flash-attention#517
"""

import numpy as np

from attention_conformance.mutants import complete


def packed_mask(n_q, n_k, causal, window):
    if not causal and window is None:
        return None
    seen = np.tri(n_q, n_k, dtype=bool)  # BUG: j <= i, not j <= i + n_k - n_q
    if window is not None:
        seen &= ~np.tri(n_q, n_k, k=-window, dtype=bool)
    return np.where(seen, 0.0, -np.inf)


complete(globals())
