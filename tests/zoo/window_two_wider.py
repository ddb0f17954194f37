"""sliding window two positions wider than asked (PyTorch)

Bug: create_sliding_window_mask, built in PyTorch from tril and triu, passes
diagonal=-(window + 1) to triu where -(window - 1) was meant.
Measured: query i sees keys max(0, i - window - 1)..i: window + 2 positions instead of window
(window 3: keys i-4..i instead of i-2..i); right when the window covers the whole sequence.
"""

import torch


def create_sliding_window_mask(seq_len, window):
    keep = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()  # key j <= query i
    keep = keep.triu(diagonal=-(window + 1))  # BUG: -(window - 1) keeps i - j < window; this keeps i - j <= window + 1
    mask = torch.zeros(seq_len, seq_len, dtype=torch.float64).masked_fill(~keep, float("-inf"))
    return mask.numpy()
