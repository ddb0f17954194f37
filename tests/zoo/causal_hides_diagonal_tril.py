"""causal self-attention whose keep-mask is np.tril(k=-1)

Bug: causal_self_attention builds a boolean "may see" matrix with np.tril(ones, k=-1), the
strictly lower triangle, where np.tril(ones) (k=0) was meant: the diagonal is lost.
Measured: query i sees keys 0..i-1 instead of 0..i: never itself; query 0 sees no key at all
(its output is NaN).
"""

import numpy as np

from attention_conformance.reference.heads import merge_heads, split_heads


def causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    may_see = np.tril(np.ones((seq, seq), dtype=bool), k=-1)  # BUG: k=-1 drops the diagonal; k=0 keeps it
    scores = np.where(may_see, q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1]), -np.inf)
    with np.errstate(invalid="ignore"):  # the first row is all -inf: 0 / 0
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = weights / weights.sum(axis=-1, keepdims=True)
    return merge_heads(weights @ v) @ params["w_o"]
