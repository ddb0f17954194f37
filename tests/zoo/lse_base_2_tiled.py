"""a tiled log-sum-exp kept in base 2

Bug: attention_with_lse written as a flash kernel: keys in tiles of 16, a running max and sum in
base 2 (the scores times log2(e), then exp2, as GPU kernels do for speed), and the lse stored as
max + log2(sum) without turning it back into the natural log.
Measured: the output is right; lse is 1/ln 2 = 1.443 times the natural log-sum-exp at every query.
"""

import numpy as np

TILE = 16


def attention_with_lse(q, k, v, mask=None):
    lq, lk = q.shape[-2], k.shape[-2]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    mask = np.zeros((lq, lk)) if mask is None else mask
    mask = np.broadcast_to(mask, lead + (lq, lk))
    scale = np.log2(np.e) / np.sqrt(q.shape[-1])  # base 2: exp(s) = exp2(s * log2(e))
    top = np.full(lead + (lq, 1), -np.inf)  # running max, in base-2 units
    total = np.zeros(lead + (lq, 1))
    acc = np.zeros(lead + (lq, v.shape[-1]))
    for start in range(0, lk, TILE):
        tile = slice(start, start + TILE)
        s = q @ np.swapaxes(k[..., tile, :], -1, -2) * scale + mask[..., tile] * np.log2(np.e)
        new_top = np.maximum(top, s.max(axis=-1, keepdims=True))
        shift = np.where(np.isneginf(new_top), 0.0, new_top)  # a query that has seen no key yet
        p = np.exp2(s - shift)
        rescale = np.exp2(top - shift)
        total = total * rescale + p.sum(axis=-1, keepdims=True)
        acc = acc * rescale + p @ v[..., tile, :]
        top = new_top
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total > 0, acc / total, 0.0)
        lse = (top + np.log2(total))[..., 0]  # BUG: base 2; the natural lse is this times ln 2
    return out, lse
