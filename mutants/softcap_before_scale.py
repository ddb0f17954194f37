"""soft-capping before the scale

Mistake: modified_attention caps the raw products, softcap * tanh(q k^T / softcap), and divides by
sqrt(d_k) after, where the contract (and FlashAttention 2, Gemma 2) caps the scaled scores.
Symptom: right without a cap; with one, the scores are capped at softcap / sqrt(d_k) instead of
softcap, and the softmax comes out far too flat.
Fix: scale first, s = q k^T / sqrt(d_k), then s = softcap * tanh(s / softcap).
Seen in: huggingface/trl#5691 (the final logits capped before their scale, the same reversed order)
"""

import numpy as np

from attention_conformance.mutants import complete


def modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
    kv_head = np.arange(q.shape[1]) * k.shape[1] // q.shape[1]
    k, v = k[:, kv_head], v[:, kv_head]
    scores = q @ np.swapaxes(k, -1, -2)
    if softcap is not None:
        scores = softcap * np.tanh(scores / softcap)  # BUG: capped before the scale
    scores = scores / np.sqrt(q.shape[-1])
    if alibi_slopes is not None:
        n_q, n_k = scores.shape[-2:]
        distance = np.abs(np.arange(n_q)[:, None] + n_k - n_q - np.arange(n_k))
        scores = scores - np.asarray(alibi_slopes)[..., None, None] * distance
    if mask is not None:
        scores = scores + mask
    top = np.max(scores, axis=-1, keepdims=True)
    sink = np.full(top.shape[1:], -np.inf) if sinks is None else np.asarray(sinks)[:, None, None]
    top = np.maximum(top, sink)
    weights = np.exp(scores - top)
    return (weights / (np.sum(weights, axis=-1, keepdims=True) + np.exp(sink - top))) @ v


complete(globals())
