"""causal mask that lets each position see the next one

Bug: create_causal_mask hides the future with np.triu(..., k=2) where k=1 was meant: the first
diagonal above the main one (key i + 1 for query i) stays open.
Measured: query i sees keys 0..i+1 instead of 0..i: one position of the future leaks in;
the last query is right (it has no next position).
"""

import numpy as np

from attention_conformance.reference.heads import multi_head_attention


def create_causal_mask(seq_len):
    return np.triu(np.full((seq_len, seq_len), -np.inf), k=2)  # BUG: k=2 keeps key i + 1; k=1 hides it


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))
