"""positional encoding for positions 1..seq_len, in the Annotated Transformer's style

Bug: positional_encoding, written like the Annotated Transformer's PositionalEncoding (the
divisors as div_term = exp(arange(0, d, 2) * -(log(10000) / d)), the table filled by strided
slices), numbers the positions 1..seq_len, as a sequence's tokens are counted, instead of 0..seq_len-1.
Measured: row p is the contract's row p + 1: every column turns at its right frequency,
10000^(-2i/d_model) for columns 2i and 2i+1, with its phase ahead by one step of that frequency
(columns 0 and 1: 1 radian, d_model = 512 last pair: 1.04e-4 radian); position 0 encodes as
sin(1), cos(1), sin(10000^(-2/d_model)), ... instead of 0, 1, 0, 1, ...
"""

import math

import numpy as np


def positional_encoding(seq_len, d_model):
    pe = np.zeros((seq_len, d_model))
    position = np.arange(1, seq_len + 1, dtype=np.float64)[:, None]  # BUG: 0..seq_len-1 are the contract's positions
    div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * -(math.log(10000.0) / d_model))  # (ceil(d/2),)
    pe[:, 0::2] = np.sin(position * div_term)
    pe[:, 1::2] = np.cos(position * div_term[: d_model // 2])  # odd d_model: the last pair has no cos
    return pe
