"""rotary embedding in the interleaved layout

Mistake: apply_rope turns the pairs (2i, 2i+1), GPT-J's layout, where the contract pairs
feature i with feature i + d/2 (GPT-NeoX, Llama).
Symptom: the right shape and norms, wrong values at every position but 0: weights converted
from one layout to the other give garbage attention.
Fix: pair x[..., :d/2] with x[..., d/2:] (rotate_half), or permute the weights' features.
Seen in: huggingface/transformers#25199
"""

import numpy as np

from attention_conformance.mutants import complete


def apply_rope(x, positions):
    d = x.shape[-1]
    half = d // 2
    theta = 10000.0 ** (-2 * np.arange(half) / d)
    angle = np.asarray(positions)[:, None] * theta
    cos, sin = np.cos(angle), np.sin(angle)
    even, odd = x[..., 0::2], x[..., 1::2]  # BUG: interleaved pairs (2i, 2i+1)
    out = np.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = odd * cos + even * sin
    return out


complete(globals())
