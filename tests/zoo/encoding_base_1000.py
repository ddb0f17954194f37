"""positional encoding with base 1000, written with loops

Bug: positional_encoding, written with explicit Python loops over the positions and the pairs of
features (the way many tutorials and course notebooks spell out the formula), divides by
1000^(2i/d_model) where the contract has 10000^(2i/d_model) (a zero lost).
Measured: columns 2i and 2i+1 turn at 1000^(-2i/d_model) instead of 10000^(-2i/d_model) radians
per position: columns 0 and 1 right (rate 1), pair i faster by 10^(2i/d_model) (d_model = 4, pair 1:
3.16 times; d_model = 512, pair 255: 9.9 times); the phases are right (sin in the even columns,
cos in the odd ones), so position 0 encodes right as 0, 1, 0, 1, ...
"""

import math

import numpy as np

BASE = 1000.0  # BUG: the contract's base is 10000


def positional_encoding(seq_len, d_model):
    pe = np.zeros((seq_len, d_model))
    for pos in range(seq_len):
        for i in range(0, d_model, 2):  # i is the even feature index 2i
            angle = pos / BASE ** (i / d_model)
            pe[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                pe[pos, i + 1] = math.cos(angle)
    return pe
