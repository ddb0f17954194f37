"""rotary embedding, written with complex numbers, that turns clockwise

Bug: apply_rope pairs the halves into complex numbers x_i + i x_{i+d/2} (as Meta's Llama code
does with torch.polar) and multiplies them by exp(-i a) where exp(+i a) was meant.
Measured: each pair turns by -p * theta_i instead of +p * theta_i (the sign of the sine terms is
flipped); the frequencies are right; right at position 0.
"""

import numpy as np


def apply_rope(x, positions):
    half = x.shape[-1] // 2
    theta = 10000.0 ** (-2 * np.arange(half) / x.shape[-1])  # (d/2,)
    turn = np.exp(-1j * np.outer(positions, theta))  # BUG: exp(+1j * angle) turns the contract's way
    z = (x[..., :half] + 1j * x[..., half:]) * turn  # (..., seq, d/2)
    return np.concatenate([z.real, z.imag], axis=-1).astype(x.dtype)
