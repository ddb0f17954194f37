"""positions counted from 1

Mistake: positional_encoding numbers the positions 1, 2, ... instead of 0, 1, ...
Symptom: every row is the next position's encoding: the first is not 0, 1, 0, 1...
Fix: position = np.arange(seq_len)[:, None].
"""

import numpy as np

from attention_conformance.mutants import complete


def positional_encoding(seq_len, d_model):
    position = np.arange(1, seq_len + 1)[:, None]  # BUG: from 1, not 0
    two_i = np.arange(0, d_model, 2)
    angle = position / 10000 ** (two_i / d_model)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe


complete(globals())
