"""a query that sees no key gets NaN

Mistake: attention_with_lse normalises every row by its sum of exp(s) without a case for a row
whose every score is -inf (a fully masked query, an empty sequence of keys): 0 / 0.
Symptom: right wherever a query sees a key; a query that sees none gets NaN instead of output 0,
and the NaN spreads through every later layer and merge.
Fix: give the rows whose lse is -inf output 0 (np.where(np.isneginf(lse)[..., None], 0.0, out)).
Seen in: pytorch/pytorch#41508
"""

import numpy as np

from attention_conformance.mutants import complete


def attention_with_lse(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    lse = np.logaddexp.reduce(scores, axis=-1)
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - lse[..., None])
    return weights @ v, lse  # BUG: a row that sees no key is 0 / 0: NaN


complete(globals())
