"""Softmax, the causal and sliding-window masks, and scaled dot-product attention."""

import numpy as np


def softmax(x, axis=-1):
    """Softmax of x along `axis`, same shape as x; -inf entries get weight 0."""
    # Subtract each row's own max (not the array's): exp then never overflows, and a row
    # far below the others does not underflow to 0/0.
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def create_causal_mask(seq_len):
    """Additive mask (seq_len, seq_len): 0.0 where key j <= query i, -inf where j > i."""
    query = np.arange(seq_len)[:, None]  # (seq_len, 1): i, one per row
    key = np.arange(seq_len)  # (seq_len,): j, one per column
    return np.where(key > query, -np.inf, 0.0)  # (seq_len, seq_len)


def create_sliding_window_mask(seq_len, window):
    """Additive mask (seq_len, seq_len): 0.0 where 0 <= i - j < window, -inf elsewhere.

    Query i sees itself and the window - 1 positions before it.
    """
    query = np.arange(seq_len)[:, None]  # (seq_len, 1): i, one per row
    key = np.arange(seq_len)  # (seq_len,): j, one per column
    behind = query - key  # (seq_len, seq_len): how far key j lies behind query i
    return np.where((behind >= 0) & (behind < window), 0.0, -np.inf)


def scaled_dot_product_attention(q, k, v, mask=None):
    """q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v) -> (output (..., Lq, d_v), weights (..., Lq, Lk)).

    `mask` is additive and broadcastable to (..., Lq, Lk).
    """
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores + mask  # before softmax: -inf becomes weight 0
    weights = softmax(scores)  # over the last axis: the keys
    return weights @ v, weights  # (..., Lq, d_v), (..., Lq, Lk)
