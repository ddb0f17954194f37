"""encoding exponent taken per column, not per pair

Mistake: positional_encoding uses feature j's own index in the exponent, 10000^(j/d_model),
so the cos of a pair turns at another frequency than its sin.
Symptom: the sin features are right, every cos feature is slightly off.
Fix: both features of pair i use 10000^(2i/d_model): the exponent is 2 * (j // 2) / d_model.
Seen in: jadore801120/attention-is-all-you-need-pytorch#32
"""

import numpy as np

from attention_conformance.mutants import complete


def positional_encoding(seq_len, d_model):
    position = np.arange(seq_len)[:, None]
    column = np.arange(d_model)  # BUG: each column's own index, not its pair's 2i
    angle = position / 10000 ** (column / d_model)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.sin(angle[:, 0::2])
    pe[:, 1::2] = np.cos(angle[:, 1::2])
    return pe


complete(globals())
