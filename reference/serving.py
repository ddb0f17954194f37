"""Attention as serving engines split it: each query's log-sum-exp beside its output, which lets
two partial results over disjoint sets of keys be merged into attention over their union (split-key
decoding, ring attention, a cache in two places)."""

import numpy as np


def attention_with_lse(q, k, v, mask=None):
    """q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v) -> (output (..., Lq, d_v), lse (..., Lq)).

    lse is the natural log of sum_j exp(s_j) over each query's scores s = q k^T / sqrt(d_k) + mask.
    A query that sees no key (every score -inf) gets output 0 and lse -inf.
    """
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores + mask
    # logaddexp(a, b) = max(a, b) + log(1 + exp(-|a - b|)): the max shift of a stable softmax, pair
    # by pair, so exp never overflows; a row of -inf alone gives -inf.
    lse = np.logaddexp.reduce(scores, axis=-1)  # (..., Lq)
    # The softmax from its normaliser: exp(s - lse). A query that sees no key has lse -inf, and
    # -inf - -inf is NaN: normalised by +inf instead, its weights are exp(-inf) = 0, its output 0.
    normaliser = np.where(np.isneginf(lse), np.inf, lse)[..., None]  # (..., Lq, 1)
    weights = np.exp(scores - normaliser)
    return weights @ v, lse


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    """Two partial results, out (..., Lq, d_v) and lse (..., Lq) over disjoint key sets a and b ->
    (out, lse) over their union.

    Each side's weights were normalised by its own sum exp(lse); over the union the sum is
    exp(lse_a) + exp(lse_b), so side a's output counts with the share exp(lse_a - lse).
    """
    lse = np.logaddexp(lse_a, lse_b)  # log(exp(lse_a) + exp(lse_b)), finite for differences of 1,000
    # Both sides empty: lse -inf, and -inf - -inf is NaN; +inf in its place gives both shares 0.
    union = np.where(np.isneginf(lse), np.inf, lse)
    share_a, share_b = np.exp(lse_a - union)[..., None], np.exp(lse_b - union)[..., None]  # (..., Lq, 1)
    # A side of share 0 (empty, or far below the other) adds nothing, whatever its output holds:
    # an empty side's may be anything, NaN included, and 0 * NaN is NaN.
    part_a = np.where(share_a == 0, 0.0, share_a * out_a)
    part_b = np.where(share_b == 0, 0.0, share_b * out_b)
    return part_a + part_b, lse
