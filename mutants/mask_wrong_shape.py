"""mask of the wrong shape

Mistake: create_causal_mask compares two 1-D ranges: the query positions lack [:, None].
Symptom: a (seq_len,) mask of zeros, which broadcasts silently over the scores and masks
nothing: every position sees the future.
Fix: build the mask as (seq_len, seq_len), comparing key positions j (a row) with query
positions i (a column): np.arange(seq_len)[:, None].
"""

import numpy as np

from attention_conformance.mutants import complete


def create_causal_mask(seq_len):
    query = np.arange(seq_len)  # BUG: (seq_len,), not (seq_len, 1): the mask comes out 1-D
    key = np.arange(seq_len)
    return np.where(key > query, -np.inf, 0.0)


complete(globals())
