"""rotary embedding with its cos/sin table numbered from position 1

Bug: apply_rope, written in the cached style of Hugging Face's older Llama and GPT-NeoX code
(a cos/sin table built once for every position up to the longest, then indexed by the positions),
builds the table's rows for the positions 1, 2, ... (counting from one) and indexes it with the
positions as they are, so position p gets the row of position p + 1.
Measured: each pair turns by (p + 1) * theta_i instead of p * theta_i: the frequencies
theta_i = 10000^(-2i/d) are right, and every pair carries an extra turn of one step of its own
frequency, theta_i (pair 0: 1 radian, d = 8 pair 3: 10000^(-3/4) = 0.001 radian); wrong at position
0 too, which turns by theta_i instead of not at all.
"""

import numpy as np


def _rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, positions):
    d = x.shape[-1]
    assert d % 2 == 0, f"the feature width d={d} is odd: rotary embedding turns pairs of features"
    positions = np.asarray(positions)
    inv_freq = 1.0 / 10000.0 ** (np.arange(0, d, 2, dtype=np.float64) / d)  # (d/2,)
    longest = int(positions.max()) + 1 if positions.size else 0
    t = np.arange(1, longest + 1, dtype=np.float64)  # BUG: the table's rows are positions 0..longest-1, not 1..longest
    freqs = np.einsum("i,j->ij", t, inv_freq)  # (longest, d/2)
    emb = np.concatenate([freqs, freqs], axis=-1)  # (longest, d): the same angle for i and i + d/2
    cos_cached, sin_cached = np.cos(emb), np.sin(emb)
    cos, sin = cos_cached[positions], sin_cached[positions]  # (seq, d): row p of the table
    return (x * cos + _rotate_half(x) * sin).astype(x.dtype)
