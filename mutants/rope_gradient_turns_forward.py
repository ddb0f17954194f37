"""rotary gradient turned by +angle, like the forward

Mistake: apply_rope_backward turns the gradient's pairs of features by +angle, as the forward
pass does, instead of by -angle (the transpose of a rotation is its inverse).
Symptom: right at position 0; elsewhere dx is the gradient turned by twice the angle too far.
Fix: dx = (d_first cos + d_second sin, d_second cos - d_first sin): the turn by -angle.
"""

import numpy as np

from attention_conformance.mutants import complete


def apply_rope_backward(x, positions, d_out):
    half = x.shape[-1] // 2
    angle = rotary_angles(positions, x.shape[-1])
    cos, sin = np.cos(angle), np.sin(angle)
    d_first, d_second = d_out[..., :half], d_out[..., half:]
    return np.concatenate([d_first * cos - d_second * sin, d_second * cos + d_first * sin], axis=-1)  # BUG: +angle


complete(globals())
