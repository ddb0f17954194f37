"""rotary embedding turns the wrong way

Mistake: apply_rope swaps the signs of the sine terms: each pair turns by -angle.
Symptom: right at position 0; elsewhere queries and keys turn the wrong way, so attention
between two positions sees minus their distance.
Fix: out = [x1 cos - x2 sin, x2 cos + x1 sin] for the halves x1, x2.
"""

import numpy as np

from attention_conformance.mutants import complete


def apply_rope(x, positions):
    d = x.shape[-1]
    half = d // 2
    theta = 10000.0 ** (-2 * np.arange(half) / d)
    angle = np.asarray(positions)[:, None] * theta
    cos, sin = np.cos(angle), np.sin(angle)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos + second * sin, second * cos - first * sin], axis=-1)  # BUG: -angle


complete(globals())
