"""a merge with no case for two empty sides

Bug: merge_attention_states as split-key kernels wrote it before their fix: the shares
exp(lse - max(lse_a, lse_b)) and the division by their sum, with an empty side skipped by its
share, but nothing for both sides empty: max is -inf, -inf - -inf is NaN, and so is 0 / 0.
Measured: the output is NaN for exactly the queries both of whose sides are empty, right elsewhere.
"""

import numpy as np


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    top = np.maximum(lse_a, lse_b)[..., None]
    with np.errstate(invalid="ignore"):
        share_a, share_b = np.exp(lse_a[..., None] - top), np.exp(lse_b[..., None] - top)  # BUG: NaN when both are -inf
        part_a = np.where(share_a > 0, share_a * out_a, 0.0)
        part_b = np.where(share_b > 0, share_b * out_b, 0.0)
        total = share_a + share_b
        return (part_a + part_b) / total, (top + np.log(total))[..., 0]
