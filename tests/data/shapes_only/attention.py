"""A small project's attention layer, for tests/test_mutate.py: correct, and tested by
test_shapes.py for its shapes only, as many projects' own tests are."""

import numpy as np


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def causal_self_attention(x, params, n_heads):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads

    def heads(w):  # (batch, n_heads, seq, d_k)
        return (x @ w).reshape(batch, seq, n_heads, d_k).transpose(0, 2, 1, 3)

    q, k, v = heads(params["w_q"]), heads(params["w_k"]), heads(params["w_v"])
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)
    visible = np.tril(np.ones((seq, seq), dtype=bool))
    scores = np.where(visible, scores, -np.inf)
    out = softmax(scores, axis=-1) @ v
    return out.transpose(0, 2, 1, 3).reshape(batch, seq, d_model) @ params["w_o"]
