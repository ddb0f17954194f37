"""states merged by the larger lse

Mistake: merge_attention_states takes the union's lse as max(lse_a, lse_b) instead of
log(exp(lse_a) + exp(lse_b)), and weighs each side by exp(lse_side - that max).
Symptom: right where one side's lse is far above the other's; elsewhere the output's weights no
longer sum to 1 (up to twice too large when both lse are equal) and lse is too small by up to log 2.
Fix: lse = np.logaddexp(lse_a, lse_b); each side weighs exp(lse_side - lse).
"""

import numpy as np

from attention_conformance.mutants import complete


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    lse = np.maximum(lse_a, lse_b)  # BUG: the max, not log(exp(lse_a) + exp(lse_b))
    with np.errstate(invalid="ignore"):
        share_a, share_b = np.exp(lse_a - lse), np.exp(lse_b - lse)
    part_a = np.where(np.isneginf(lse_a)[..., None], 0.0, share_a[..., None] * out_a)
    part_b = np.where(np.isneginf(lse_b)[..., None], 0.0, share_b[..., None] * out_b)
    return part_a + part_b, lse


complete(globals())
