"""merge reads the output of an empty side

Mistake: merge_attention_states multiplies each side's output by its share, exp(lse - lse_union),
trusting that an empty side's share of 0 makes its output vanish: but 0 * NaN is NaN.
Symptom: right while both sides hold keys; where one side is empty and its output buffer holds
NaN or inf (never written, as kernels leave it), the merged output is NaN.
Fix: take an empty side's part as 0 without reading its output: np.where(np.isneginf(lse_a)[..., None], 0.0, ...).
"""

import numpy as np

from attention_conformance.mutants import complete


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    lse = np.logaddexp(lse_a, lse_b)
    with np.errstate(invalid="ignore"):
        share_a, share_b = np.exp(lse_a - lse), np.exp(lse_b - lse)
        out = share_a[..., None] * out_a + share_b[..., None] * out_b  # BUG: 0 * NaN is NaN
    return np.where(np.isneginf(lse)[..., None], 0.0, out), lse


complete(globals())
