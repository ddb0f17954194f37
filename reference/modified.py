"""Score modifiers: soft-capping (Gemma 2), ALiBi's linear position bias (BLOOM, MPT) and attention
sinks (gpt-oss), applied in the order FlashAttention 2 applies the first two (scale, cap, ALiBi,
mask) and gpt-oss the third (a logit per head that joins the softmax's denominator only)."""

import numpy as np

from .attention import softmax


def modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
    """q (batch, n_heads, Lq, d_k), k (batch, n_kv_heads, Lk, d_k), v (batch, n_kv_heads, Lk, d_v)
    -> (batch, n_heads, Lq, d_v). Query head h uses key/value head h // (n_heads // n_kv_heads)."""
    kv_head = np.arange(q.shape[1]) * k.shape[1] // q.shape[1]
    k, v = k[:, kv_head], v[:, kv_head]
    scores = q @ np.swapaxes(k, 2, 3) / np.sqrt(q.shape[-1])  # (batch, n_heads, Lq, Lk)
    if softcap is not None:
        scores = softcap * np.tanh(scores / softcap)
    if alibi_slopes is not None:  # query i sits at key position i + Lk - Lq: the bias grows with the distance back
        n_q, n_k = q.shape[2], k.shape[2]
        distance = np.abs(np.arange(n_q)[:, None] + n_k - n_q - np.arange(n_k))
        scores = scores - np.asarray(alibi_slopes)[..., None, None] * distance
    if mask is not None:
        scores = scores + mask
    if sinks is None:
        return softmax(scores) @ v
    # as gpt-oss: the sink a column of the scores, in the softmax, dropped after it
    sink = np.broadcast_to(np.asarray(sinks)[:, None, None], scores.shape[:-1] + (1,))
    return softmax(np.concatenate([scores, sink], axis=-1))[..., :-1] @ v
