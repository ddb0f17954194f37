"""ALiBi bias with the wrong sign

Mistake: modified_attention adds slope * distance to the scores instead of subtracting it.
Symptom: right with slopes of 0; otherwise each query favours the keys furthest from it, the
opposite of ALiBi's recency bias.
Fix: s -= alibi_slopes[h] * |i + Lk - Lq - j|.
Seen in: meta-pytorch/attention-gym#86 (its ALiBi score_mod added slope * (q_idx - kv_idx))
"""

import numpy as np

from attention_conformance.mutants import complete


def modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
    kv_head = np.arange(q.shape[1]) * k.shape[1] // q.shape[1]
    k, v = k[:, kv_head], v[:, kv_head]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if softcap is not None:
        scores = softcap * np.tanh(scores / softcap)
    if alibi_slopes is not None:
        n_q, n_k = scores.shape[-2:]
        distance = np.abs(np.arange(n_q)[:, None] + n_k - n_q - np.arange(n_k))
        scores = scores + np.asarray(alibi_slopes)[..., None, None] * distance  # BUG: the bias added, not subtracted
    if mask is not None:
        scores = scores + mask
    top = np.max(scores, axis=-1, keepdims=True)
    sink = np.full(top.shape[1:], -np.inf) if sinks is None else np.asarray(sinks)[:, None, None]
    top = np.maximum(top, sink)
    weights = np.exp(scores - top)
    return (weights / (np.sum(weights, axis=-1, keepdims=True) + np.exp(sink - top))) @ v


complete(globals())
