"""merging two empty states gives NaN

Mistake: merge_attention_states takes each side's share as exp(lse_side - max(lse_a, lse_b))
with no case for both sides empty: lse -inf on both, and -inf - -inf is NaN.
Symptom: right while either side holds a key; where both are empty (a chunk with no context
yet, a fully masked partition) output and lse are NaN instead of 0 and -inf.
Fix: shift by the max only where it is finite (or return 0 and -inf where both lse are -inf).
Seen in: flashinfer-ai/flashinfer#4051, vllm-project/vllm#39148
"""

import numpy as np

from attention_conformance.mutants import complete


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    top = np.maximum(lse_a, lse_b)
    with np.errstate(invalid="ignore"):
        e_a, e_b = np.exp(lse_a - top), np.exp(lse_b - top)  # BUG: both -inf: -inf - -inf = NaN
    total = e_a + e_b
    part_a = np.where(np.isneginf(lse_a)[..., None], 0.0, e_a[..., None] * out_a)
    part_b = np.where(np.isneginf(lse_b)[..., None], 0.0, e_b[..., None] * out_b)
    with np.errstate(invalid="ignore"):
        return (part_a + part_b) / total[..., None], top + np.log(total)


complete(globals())
