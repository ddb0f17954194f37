"""rotary frequencies from i/d, not 2i/d

Mistake: apply_rope computes theta_i = 10000^(-i/d), without the factor 2.
Symptom: the first pair is right, the others turn too fast: the frequencies span only half
their range.
Fix: theta = 10000 ** (-2 * np.arange(d // 2) / d).
"""

import numpy as np

from attention_conformance.mutants import complete


def apply_rope(x, positions):
    d = x.shape[-1]
    half = d // 2
    theta = 10000.0 ** (-np.arange(half) / d)  # BUG: i / d, not 2i / d
    angle = np.asarray(positions)[:, None] * theta
    cos, sin = np.cos(angle), np.sin(angle)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


complete(globals())
