"""rotary embedding, written with complex numbers, with Llama 3's base

Bug: apply_rope, written in the style of Meta's Llama code (precompute_freqs_cis: the turns
as unit complex numbers from torch.polar, the features paired into complex numbers and
multiplied), takes rope_theta = 500000 from a Llama 3 config where the contract's base is 10000.
The pairs are the contract's half-split ones, x_i + i x_{i+d/2}.
Measured: theta_i = 500000^(-2i/d) instead of 10000^(-2i/d): pair 0 turns right (theta_0 = 1),
pair i slower by 50^(2i/d) (d = 4, pair 1: 7.1 times; d = 8, pair 3: 18.8 times); each pair keeps
its length; right at position 0.
"""

import numpy as np

ROPE_THETA = 500000.0  # BUG: Llama 3's base; the contract's is 10000


def _polar(abs, angle):
    """numpy's torch.polar: abs * (cos(angle) + i sin(angle))."""
    return abs * np.exp(1j * angle)


def _precompute_freqs_cis(dim, positions, theta=ROPE_THETA):
    freqs = 1.0 / theta ** (np.arange(0, dim, 2)[: dim // 2].astype(np.float64) / dim)  # (dim/2,)
    freqs = np.outer(np.asarray(positions, dtype=np.float64), freqs)  # (seq, dim/2)
    return _polar(np.ones_like(freqs), freqs)  # complex128 (seq, dim/2)


def apply_rope(x, positions):
    d = x.shape[-1]
    assert d % 2 == 0, f"the feature width d={d} is odd: rotary embedding turns pairs of features"
    half = d // 2
    freqs_cis = _precompute_freqs_cis(d, positions)
    x_complex = x[..., :half].astype(np.float64) + 1j * x[..., half:].astype(np.float64)  # (..., seq, d/2)
    x_out = x_complex * freqs_cis
    return np.concatenate([x_out.real, x_out.imag], axis=-1).astype(x.dtype)
