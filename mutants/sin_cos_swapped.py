"""sin and cos swapped in the positional encoding

Mistake: positional_encoding puts cos in the even features and sin in the odd ones.
Symptom: the right shape; position 0 encodes as 1, 0, 1, 0... instead of 0, 1, 0, 1...
Fix: PE[p, 2i] = sin(angle), PE[p, 2i+1] = cos(angle).
"""

import numpy as np

from attention_conformance.mutants import complete


def positional_encoding(seq_len, d_model):
    position = np.arange(seq_len)[:, None]
    two_i = np.arange(0, d_model, 2)
    angle = position / 10000 ** (two_i / d_model)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.cos(angle)  # BUG: cos where sin belongs
    pe[:, 1::2] = np.sin(angle)
    return pe


complete(globals())
