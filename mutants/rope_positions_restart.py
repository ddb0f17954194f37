"""rotary positions restart at 0

Mistake: apply_rope ignores the positions it is given and numbers the sequence 0, 1, ...
Symptom: right for a whole sequence from position 0; a cached step or a later chunk is turned
as if it were the first position.
Fix: use the positions passed in: angle = positions[:, None] * theta.
"""

import numpy as np

from attention_conformance.mutants import complete


def apply_rope(x, positions):
    d = x.shape[-1]
    half = d // 2
    theta = 10000.0 ** (-2 * np.arange(half) / d)
    angle = np.arange(x.shape[-2])[:, None] * theta  # BUG: positions ignored, restarting at 0
    cos, sin = np.cos(angle), np.sin(angle)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


complete(globals())
