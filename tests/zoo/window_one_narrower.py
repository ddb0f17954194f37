"""sliding window one position narrower than asked

Bug: create_sliding_window_mask, written as a loop over the queries, opens the slice
[i - window + 2, i] where [i - window + 1, i] was meant: the "+ 1" for the query itself
counted twice.
Measured: query i sees keys max(0, i - window + 2)..i: window - 1 positions instead of window
(window 3: keys i-1..i instead of i-2..i); with window 1 it sees nothing.
"""

import numpy as np


def create_sliding_window_mask(seq_len, window):
    mask = np.full((seq_len, seq_len), -np.inf)
    for i in range(seq_len):
        first = max(0, i - window + 2)  # BUG: i - window + 1 is the first key of a window of `window` positions
        mask[i, first : i + 1] = 0.0
    return mask
