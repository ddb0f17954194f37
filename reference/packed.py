"""Packed batches: sequences of different lengths laid end to end in one array, as serving
engines batch them (FlashAttention's varlen API), with no padding to the longest."""

import numpy as np

from .serving import attention_with_lse


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    """q (total_q, n_heads, d_k), k (total_k, n_kv_heads, d_k), v (total_k, n_kv_heads, d_v) ->
    (total_q, n_heads, d_v).

    Sequence b holds the query rows cu_seqlens_q[b]:cu_seqlens_q[b + 1] and the key rows
    cu_seqlens_k[b]:cu_seqlens_k[b + 1], and its queries see its keys only. Query head h uses
    key/value head h // (n_heads // n_kv_heads). Rows past the last sequence are never read.
    """
    kv_head = np.arange(q.shape[1]) * k.shape[1] // q.shape[1]  # h // (n_heads // n_kv_heads)
    out = np.zeros_like(q, shape=q.shape[:2] + v.shape[2:])  # padding rows stay 0
    for b in range(len(cu_seqlens_q) - 1):
        queries = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1])
        keys = slice(cu_seqlens_k[b], cu_seqlens_k[b + 1])
        if keys.start == keys.stop:  # no key to see: the outputs stay 0
            continue
        heads_q = q[queries].transpose(1, 0, 2)  # (n_heads, n_q, d_k)
        heads_k, heads_v = (x[keys].transpose(1, 0, 2)[kv_head] for x in (k, v))  # (n_heads, n_k, d)
        mask = packed_mask(heads_q.shape[1], heads_k.shape[1], causal, window)
        seen, _ = attention_with_lse(heads_q, heads_k, heads_v, mask)
        out[queries] = seen.transpose(1, 0, 2)
    return out


def packed_mask(n_q, n_k, causal, window):
    """The additive mask (n_q, n_k) of one sequence, or None: causal aligned to the bottom right
    (query i is position i + n_k - n_q, the queries being the sequence's last), and a window of
    `window` keys ending there (a window implies causal)."""
    if not causal and window is None:
        return None
    offset = n_k - n_q  # query i sees keys j <= i + offset
    seen = np.tri(n_q, n_k, k=offset, dtype=bool)
    if window is not None:
        seen &= ~np.tri(n_q, n_k, k=offset - window, dtype=bool)  # and j > i + offset - window
    mask = np.zeros((n_q, n_k))
    mask[~seen] = -np.inf  # (a constant added to the seen scores would change nothing: none is)
    return mask
