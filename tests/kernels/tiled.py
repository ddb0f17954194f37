"""Attention computed the way FlashAttention does, in numpy: keys in tiles, an online softmax
(a running max and sum, the accumulator rescaled when the max grows), and, in float16 and
bfloat16, the probabilities rounded to the input's dtype before they meet the values while
sums accumulate in float32. The kit's own tests run the suite on it, correct and with the
classic tile bugs below (tests/test_kernels.py).

    Tiled(16)                         a correct kernel with 16-wide tiles
    Tiled(64, declared=True)          64-wide tiles, declaring what such kernels take: head widths
                                      32 to 128, d_v == d_k, no mask but the causal one
    Tiled(16, bug="no_rescale")       one classic bug (BUGS)

From this folder: pytest --impl=tiled:small, --impl=tiled:wide, --impl=tiled:small_bugs.no_rescale...
"""

import math
from types import SimpleNamespace

import numpy as np

BUGS = {
    "no_rescale": "the accumulator is not rescaled when the running max grows",
    "sum_not_rescaled": "the running sum is not rescaled when the running max grows",
    "last_partial_tile_dropped": "the last, partial, tile of keys is dropped",
    "last_key_dropped": "the loop over keys stops one short: the last key is dropped",
    "max_starts_at_zero": "the running max starts at 0, not -inf: scores far below 0 underflow to 0 / 0",
    "causal_mask_per_tile": "the causal mask compares the query with the key's index inside its tile",
    "last_query_tile_dropped": "queries are processed in tiles too, and the last partial one is left at 0",
    "cache_keeps_one_tile": "the decoding cache keeps the last tile of keys and values only",
}


class Tiled:
    """The contract's attention callables on a tiled online-softmax kernel (output only, no weights)."""

    def __init__(self, tile, bug=None, declared=False):
        assert bug is None or bug in BUGS, bug
        self.tile, self.bug = tile, bug
        if declared:
            self.CONFORMANCE = {
                "head_dims": [32, 64, 128],
                "value_dim_equals_key_dim": True,
                "masks": "causal",
                "weights": False,
            }

    def scaled_dot_product_attention(self, q, k, v, mask=None):
        causal = mask is not None and _is_causal(mask, q.shape[-2], k.shape[-2])
        return self._attend(q, k, v, None if causal else mask, causal)

    def _attend(self, q, k, v, mask, causal):
        dtype = q.dtype
        low = dtype.itemsize < 4  # float16 or bfloat16: sums in float32, probabilities rounded to dtype
        wide = np.float32 if low else np.float64
        q, k, v = (np.asarray(a, dtype=wide) for a in (q, k, v))
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        q, k, v = (np.broadcast_to(a, lead + a.shape[-2:]) for a in (q, k, v))
        lq, lk = q.shape[-2], k.shape[-2]
        mask = None if mask is None else np.broadcast_to(np.asarray(mask, dtype=wide), lead + (lq, lk))
        out = np.zeros(lead + (lq, v.shape[-1]), dtype=wide)
        query_tile = self.tile if self.bug == "last_query_tile_dropped" else lq
        for q0 in range(0, lq, query_tile):
            q1 = min(q0 + query_tile, lq)
            if self.bug == "last_query_tile_dropped" and q1 - q0 < query_tile:
                break
            rows = slice(q0, q1)
            out[..., rows, :] = self._rows(q[..., rows, :], k, v, None if mask is None else mask[..., rows, :],
                                           causal and (q0, lk - lq), dtype, low)
        return out.astype(dtype)

    def _rows(self, q, k, v, mask, causal, dtype, low):
        """Online softmax over the key tiles for a block of queries."""
        lk = k.shape[-2]
        scale = 1 / math.sqrt(q.shape[-1])
        start = 0.0 if self.bug == "max_starts_at_zero" else -np.inf
        running_max = np.full(q.shape[:-1] + (1,), start, dtype=q.dtype)
        running_sum = np.zeros_like(running_max)
        acc = np.zeros(q.shape[:-1] + (v.shape[-1],), dtype=q.dtype)
        stop = lk - lk % self.tile if self.bug == "last_partial_tile_dropped" and lk % self.tile else lk
        if self.bug == "last_key_dropped":
            stop = lk - 1
        for k0 in range(0, stop, self.tile):
            k1 = min(k0 + self.tile, stop)
            scores = (q @ np.swapaxes(k[..., k0:k1, :], -1, -2)) * scale
            if mask is not None:
                scores = scores + mask[..., k0:k1]
            if causal:
                first_query, offset = causal
                query = np.arange(first_query, first_query + q.shape[-2])[:, None] + offset
                key = np.arange(k1 - k0) + (0 if self.bug == "causal_mask_per_tile" else k0)
                scores = np.where(key > query, -np.inf, scores)
            new_max = np.maximum(running_max, scores.max(axis=-1, keepdims=True))
            seen = np.isfinite(new_max)  # a row that has seen no key yet keeps max -inf: nothing to rescale
            shift = np.where(seen, new_max, 0.0)
            p = np.exp(scores - shift)
            rescale = np.where(seen, np.exp(running_max - shift), 1.0)
            running_sum = running_sum * (1.0 if self.bug == "sum_not_rescaled" else rescale) + p.sum(-1, keepdims=True)
            if low:
                p = p.astype(dtype).astype(q.dtype)  # as a kernel feeds the tensor cores
            acc = acc * (1.0 if self.bug == "no_rescale" else rescale) + p @ v[..., k0:k1, :]
            running_max = new_max
        return acc / running_sum

    def causal_self_attention(self, x, params, n_heads):
        q, k, v = (_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        return _merged(self._attend(q, k, v, None, True)) @ params["w_o"]

    def multi_head_attention(self, x, params, n_heads, mask=None):
        q, k, v = (_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        return _merged(self.scaled_dot_product_attention(q, k, v, mask)) @ params["w_o"]

    def decode_step(self, x_t, params, n_heads, cache=None):
        """One position, its keys and values appended to the cached ones."""
        q, k, v = (_heads(x_t @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        if cache is not None:
            k, v = np.concatenate([cache[0], k], axis=2), np.concatenate([cache[1], v], axis=2)
        if self.bug == "cache_keeps_one_tile":
            k, v = k[:, :, -self.tile :], v[:, :, -self.tile :]
        return _merged(self._attend(q, k, v, None, False)) @ params["w_o"], (k, v)


def _heads(x, n_heads):
    batch, seq, d_model = x.shape
    return x.reshape(batch, seq, n_heads, d_model // n_heads).transpose(0, 2, 1, 3)


def _merged(x):
    batch, n_heads, seq, d_k = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, seq, n_heads * d_k)


def _is_causal(mask, lq, lk):
    causal = np.where(np.tri(lq, lk, k=lk - lq, dtype=bool), 0.0, -np.inf)
    return np.shape(mask)[-2:] == (lq, lk) and bool((np.asarray(mask) == causal).all())


# The kernels the kit's tests run, by name: pytest --impl=tiled:small and so on.
small = Tiled(16)
wide = Tiled(64, declared=True)
small_bugs = SimpleNamespace(**{bug: Tiled(16, bug) for bug in BUGS})
wide_bugs = SimpleNamespace(**{bug: Tiled(64, bug, declared=True) for bug in BUGS})
