"""ALiBi distance from the top left

Mistake: modified_attention measures the ALiBi distance as |i - j|, as if query i sat at key i,
where the queries are the last positions (query i sits at key i + Lk - Lq).
Symptom: right when there are as many queries as keys; with fewer (decoding, chunked prefill)
every query is biased towards the first keys instead of its own.
Fix: distance = |i + Lk - Lq - j|, aligned to the bottom right as the causal mask is.
Seen in: vllm-project/vllm#945 (the same family: PagedAttention's ALiBi distance measured from the wrong position)
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
        distance = np.abs(np.arange(n_q)[:, None] - np.arange(n_k))  # BUG: aligned to the top left
        scores = scores - np.asarray(alibi_slopes)[..., None, None] * distance
    if mask is not None:
        scores = scores + mask
    top = np.max(scores, axis=-1, keepdims=True)
    sink = np.full(top.shape[1:], -np.inf) if sinks is None else np.asarray(sinks)[:, None, None]
    top = np.maximum(top, sink)
    weights = np.exp(scores - top)
    return (weights / (np.sum(weights, axis=-1, keepdims=True) + np.exp(sink - top))) @ v


complete(globals())
