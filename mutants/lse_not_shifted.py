"""log-sum-exp without the max shift

Mistake: attention_with_lse computes lse = log(sum(exp(s))) directly, without subtracting each
row's max before exp and adding it back after (the stable log-sum-exp).
Symptom: right for scores of a few units; exp overflows to inf for scores near 1,000 (lse becomes
inf and the output 0 or NaN), and a row of very negative scores underflows to log(0) = -inf.
Fix: lse = m + log(sum(exp(s - m))) with m each row's max (np.logaddexp.reduce does it pairwise).
"""

import numpy as np

from attention_conformance.mutants import complete


def attention_with_lse(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    with np.errstate(over="ignore", divide="ignore"):
        lse = np.log(np.sum(np.exp(scores), axis=-1))  # BUG: no max shift: exp(1000) overflows
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - lse[..., None])
    seen_none = np.isneginf(lse)[..., None]
    return np.where(seen_none, 0.0, weights @ v), lse


complete(globals())
