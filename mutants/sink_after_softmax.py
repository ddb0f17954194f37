"""attention sink applied after the softmax

Mistake: modified_attention takes the softmax over the keys alone, then scales every weight by
1 / (1 + exp(sinks[h])), where the sink's exp(sinks[h]) belongs in the softmax's denominator.
Symptom: right when the sink logit is -inf; otherwise the weights lose a share that does not
depend on the scores (the sink's real share grows as the scores shrink).
Fix: w = exp(s) / (exp(sinks[h]) + sum_j exp(s)), all shifted by one max (gpt-oss).
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
    weights = weights / np.sum(weights, axis=-1, keepdims=True)
    if sinks is not None:
        weights = weights / (1 + np.exp(np.asarray(sinks)[:, None, None]))  # BUG: after the softmax
    return weights @ v


complete(globals())
