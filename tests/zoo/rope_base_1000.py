"""rotary embedding with base 1000

Bug: apply_rope, written in the rotate_half style of Hugging Face's Llama, computes the inverse
frequencies from a base of 1000 instead of 10000 (a zero lost).
Measured: theta_i = 1000^(-2i/d) instead of 10000^(-2i/d): pair 0 turns right, pair i faster
by 10^(2i/d) (d = 8, pair 3: 5.6 times); right at position 0.
"""

import numpy as np

BASE = 1000.0  # BUG: the contract's base is 10000


def _rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, positions):
    d = x.shape[-1]
    inv_freq = 1.0 / BASE ** (np.arange(0, d, 2) / d)  # (d/2,)
    angle = np.outer(np.asarray(positions, dtype=np.float64), inv_freq)  # (seq, d/2)
    angle = np.concatenate([angle, angle], axis=-1)  # (seq, d): the same angle for i and i + d/2
    return (x * np.cos(angle) + _rotate_half(x) * np.sin(angle)).astype(x.dtype)
