"""attention sink not shifted by the row's maximum

Mistake: modified_attention shifts the scores by their maximum before exp, as a stable softmax
does, but adds the sink as exp(sinks[h]) unshifted.
Symptom: right only when a row's maximum score is 0; otherwise the sink's share is off by a
factor of exp(max), and large scores overflow it to nothing.
Fix: shift the sink by the same maximum: exp(sinks[h] - max), the max taken over the sink too.
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
        scores = scores - np.asarray(alibi_slopes)[..., None, None] * distance
    if mask is not None:
        scores = scores + mask
    top = np.max(scores, axis=-1, keepdims=True)
    weights = np.exp(scores - top)
    sink = 0.0 if sinks is None else np.exp(np.asarray(sinks)[:, None, None])  # BUG: not shifted by the max
    return (weights / (np.sum(weights, axis=-1, keepdims=True) + sink)) @ v


complete(globals())
