"""positional encoding with the phases swapped

Bug: positional_encoding writes every feature as one sine with a phase, sin(angle + phase),
and gives the quarter-turn phase (pi/2, which makes a cosine) to the even features instead
of the odd ones.
Measured: PE[p, 2i] = cos(angle) and PE[p, 2i+1] = sin(angle) instead of sin, cos: position 0
encodes as 1, 0, 1, 0, ... instead of 0, 1, 0, 1, ...; embed inherits it.
"""

import numpy as np


def positional_encoding(seq_len, d_model):
    j = np.arange(d_model)  # feature index
    rate = 10000.0 ** (-(j - j % 2) / d_model)  # (d_model,): pair i = j // 2 turns at 10000^(-2i/d_model)
    phase = np.where(j % 2 == 0, np.pi / 2, 0.0)  # BUG: the odd features take the quarter turn (cos), not the even
    return np.sin(np.arange(seq_len)[:, None] * rate + phase)  # (seq_len, d_model)


def embed(tokens, embedding):
    return embedding[tokens] + positional_encoding(tokens.shape[1], embedding.shape[1])
