"""positional encoding with the sines and the cosines in two halves

Bug: positional_encoding follows tensor2tensor's get_timing_signal_1d (and the encodings ported
from it): it computes the angles of every pair, then concatenates all the sines and then all the
cosines, [sin | cos], where the contract interleaves them, sin in column 2i and cos in column
2i + 1. The frequencies are the contract's, 10000^(-2i/d_model).
Measured: column j < d_model/2 is sin(p * 10000^(-2j/d_model)) and column d_model/2 + j is
cos(p * 10000^(-2j/d_model)), where column c should turn at 10000^(-2(c//2)/d_model) with phase 0
(c even) or a quarter turn (c odd): only column 0 is right (d_model = 4: columns sin rate 1,
sin rate 0.01, cos rate 1, cos rate 0.01 instead of sin 1, cos 1, sin 0.01, cos 0.01); position 0
encodes as 0, ..., 0, 1, ..., 1 instead of 0, 1, 0, 1, ...
"""

import numpy as np


def positional_encoding(seq_len, d_model):
    position = np.arange(seq_len, dtype=np.float64)
    num_timescales = (d_model + 1) // 2  # the pairs, the last one half when d_model is odd
    inv_timescales = 10000.0 ** (-2.0 * np.arange(num_timescales) / d_model)  # (num_timescales,)
    scaled_time = position[:, None] * inv_timescales[None, :]  # (seq_len, num_timescales)
    # BUG: [sin | cos] side by side; the contract interleaves them (sin in 2i, cos in 2i + 1)
    signal = np.concatenate([np.sin(scaled_time), np.cos(scaled_time[:, : d_model // 2])], axis=1)
    return signal  # (seq_len, d_model)
