"""cross-attention from scratch that never reads its mask

Bug: cross_attention, written head by head with einsum, takes a mask argument (to fit the
contract's signature) and never adds it to the scores.
Measured: query i sees every context key 0..Lk-1 instead of the unpadded ones (the mask is not
applied); right without a mask. Two mistakes of the catalogue compute the same: the measurement
says what they share.
"""

import numpy as np


def cross_attention(x, context, params, n_heads, mask=None):  # BUG: mask is accepted and never used
    d_k = x.shape[-1] // n_heads
    outputs = []
    for h in range(n_heads):
        columns = slice(h * d_k, (h + 1) * d_k)
        q = np.einsum("bqm,md->bqd", x, params["w_q"][:, columns])
        k = np.einsum("bkm,md->bkd", context, params["w_k"][:, columns])
        v = np.einsum("bkm,md->bkd", context, params["w_v"][:, columns])
        scores = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(d_k)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        outputs.append(np.einsum("bqk,bkd->bqd", weights, v))
    return np.einsum("bqm,mo->bqo", np.concatenate(outputs, axis=-1), params["w_o"])
