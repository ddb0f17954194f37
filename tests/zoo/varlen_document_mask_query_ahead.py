"""packed attention whose queries sit one key ahead

Bug: varlen_attention written as one attention over the pack with a document mask (as
flex_attention's packed documents), each query's position in its sequence's keys counted one too
far: i + Lk - Lq + 1. A causal query then also sees the key after its own, a window slides one key on.
Measured: each packed query draws on the keys of its own sequence up to one past its own.
"""

import numpy as np


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    total_q, total_k = cu_seqlens_q[-1], cu_seqlens_k[-1]
    sequence_q = np.searchsorted(cu_seqlens_q, np.arange(total_q), side="right") - 1
    sequence_k = np.searchsorted(cu_seqlens_k, np.arange(total_k), side="right") - 1
    seen = sequence_q[:, None] == sequence_k[None, :]
    if causal or window is not None:
        key_row = np.arange(total_q) + cu_seqlens_k[sequence_q + 1] - cu_seqlens_q[sequence_q + 1] + 1  # BUG: + 1
        seen &= np.arange(total_k)[None, :] <= key_row[:, None]
        if window is not None:
            seen &= np.arange(total_k)[None, :] > key_row[:, None] - window
    group = q.shape[1] // k.shape[1]
    out = np.zeros(q.shape[:2] + v.shape[2:])
    for h in range(q.shape[1]):
        scores = q[:total_q, h].astype(np.float64) @ k[:total_k, h // group].astype(np.float64).T / np.sqrt(q.shape[2])
        scores = np.where(seen, scores, -np.inf)
        top = scores.max(axis=1, keepdims=True)
        e = np.exp(scores - np.where(np.isfinite(top), top, 0.0))
        total = e.sum(axis=1, keepdims=True)
        out[:total_q, h] = np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0) @ v[:total_k, h // group]
    return out.astype(q.dtype)
