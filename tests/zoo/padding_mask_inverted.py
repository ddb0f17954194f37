"""additive mask read back as a boolean the wrong way round

Bug: scaled_dot_product_attention turns the additive mask into a boolean with `mask == 0`
and then hides where that boolean is True: the keys the mask keeps are dropped and the hidden
ones kept.
Measured: query i sees exactly the keys the mask hides (causal: keys i+1..Lk-1, the last query
none: NaN; padding: only the padded keys); right without a mask.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, softmax
from attention_conformance.reference.heads import merge_heads, split_heads


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
    if mask is not None:
        hidden = np.asarray(mask) == 0  # BUG: 0 means "keep" in an additive mask; hidden is mask == -inf
        scores = np.where(hidden, -np.inf, scores)
    with np.errstate(invalid="ignore"):  # a row with nothing left: 0 / 0
        weights = softmax(scores)
    return weights @ v, weights


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    return merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))
