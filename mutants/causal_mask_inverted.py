"""keep and hide swapped in the mask

Mistake: create_causal_mask puts -inf where a key must be kept and 0 where it must be hidden.
Symptom: each position sees only the future: the last one sees nothing (NaN).
Fix: 0.0 where key j <= query i, -inf where j > i.
Seen in: lucidrains/halonet-pytorch#4
Measured: the mask is inverted (each query sees exactly the keys it must not); the causal
triangle is turned over (queries see keys after their own, not before)
"""

import numpy as np

from attention_conformance.mutants import complete


def create_causal_mask(seq_len):
    query = np.arange(seq_len)[:, None]
    key = np.arange(seq_len)
    return np.where(key > query, 0.0, -np.inf)  # BUG: the two values swapped


complete(globals())
