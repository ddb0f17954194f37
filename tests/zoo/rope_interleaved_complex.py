"""rotary embedding in Meta's interleaved layout, through a complex view

Bug: apply_rope is Meta's Llama code in numpy (apply_rotary_emb: the features reshaped to
(..., d/2, 2) and viewed as complex numbers, multiplied by freqs_cis, viewed back as reals),
which pairs feature 2i with feature 2i + 1, where the contract pairs feature i with i + d/2
(GPT-NeoX, Hugging Face's Llama). A layout convention, not a numeric mistake: the base 10000 and
the direction are right, and weights permuted from one layout to the other agree.
Measured: the pairs (x_2i, x_2i+1) turn by p * theta_i, theta_i = 10000^(-2i/d), each keeping its
length; the contract's pairs (x_i, x_i+d/2) are not turned as pairs and change length (d = 4 at
position 1: (x_0, x_2) mixes with x_1); right at position 0 and for d = 2 (one pair, the same in
both layouts).
"""

import numpy as np


def _precompute_freqs_cis(dim, positions, theta=10000.0):
    freqs = 1.0 / theta ** (np.arange(0, dim, 2)[: dim // 2].astype(np.float64) / dim)  # (dim/2,)
    return np.exp(1j * np.outer(np.asarray(positions, dtype=np.float64), freqs))  # (seq, dim/2)


def apply_rope(x, positions):
    d = x.shape[-1]
    assert d % 2 == 0, f"the feature width d={d} is odd: rotary embedding turns pairs of features"
    freqs_cis = _precompute_freqs_cis(d, positions)
    # BUG: torch.view_as_complex(x.reshape(..., d/2, 2)) pairs (2i, 2i+1); the contract pairs (i, i + d/2)
    x_complex = np.ascontiguousarray(x, dtype=np.float64).reshape(*x.shape[:-1], d // 2, 2).view(np.complex128)[..., 0]
    x_out = x_complex * freqs_cis  # (..., seq, d/2)
    return np.stack([x_out.real, x_out.imag], axis=-1).reshape(x.shape).astype(x.dtype)  # view_as_real, flatten
