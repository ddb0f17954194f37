"""log-sum-exp in base 2

Mistake: attention_with_lse returns log2(sum(exp(s))), the base-2 log-sum-exp that kernels keep
internally (they compute exp2(s * log2(e)) on the fast path), where the contract says the natural log.
Symptom: the output is right; lse is 1/ln 2 = 1.44 times the natural one, and a merge weighs
the two sides with the wrong base (FlashInfer measured errors of 0.1 at 4,096 positions).
Fix: multiply the base-2 value by ln 2 before returning it: lse = log2(sum) * ln(2).
Seen in: lightseekorg/tokenspeed#571, flashinfer-ai/flashinfer#4547
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
    seen_none = np.isneginf(lse)[..., None]
    return np.where(seen_none, 0.0, weights @ v), lse / np.log(2)  # BUG: base 2, not the natural log


complete(globals())
