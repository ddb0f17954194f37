"""The reference with one mistake: the positional encoding is concatenated, not added.

embed appends the encoding after the token's embedding along the features.
Symptom: embeddings of width 2 * d_model instead of d_model; it runs silently.
Fix: return embedding[tokens] + positional_encoding(seq, d_model).
"""

import numpy as np


def softmax(x, axis=-1):
    """Softmax of x along `axis`, same shape as x; -inf entries get weight 0."""
    # Subtract each row's own max (not the array's): exp then never overflows, and a row
    # far below the others does not underflow to 0/0.
    shifted = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def create_causal_mask(seq_len):
    """Additive mask (seq_len, seq_len): 0.0 where key j <= query i, -inf where j > i."""
    query = np.arange(seq_len)[:, None]  # (seq_len, 1): i, one per row
    key = np.arange(seq_len)  # (seq_len,): j, one per column
    return np.where(key > query, -np.inf, 0.0)  # (seq_len, seq_len)


def scaled_dot_product_attention(q, k, v, mask=None):
    """q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v) -> (output (..., Lq, d_v), weights (..., Lq, Lk)).

    `mask` is additive and broadcastable to (..., Lq, Lk).
    """
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_k)  # (..., Lq, Lk)
    if mask is not None:
        scores = scores + mask  # before softmax: -inf becomes weight 0
    weights = softmax(scores)  # over the last axis: the keys
    return weights @ v, weights  # (..., Lq, d_v), (..., Lq, Lk)


def split_heads(x, n_heads):
    """(batch, seq, d_model) -> (batch, n_heads, seq, d_k); head h holds features [h*d_k, (h+1)*d_k)."""
    batch, seq, d_model = x.shape
    assert d_model % n_heads == 0, f"d_model={d_model} is not divisible by n_heads={n_heads}"
    d_k = d_model // n_heads
    x = x.reshape(batch, seq, n_heads, d_k)  # (batch, seq, n_heads, d_k)
    return x.transpose(0, 2, 1, 3)  # (batch, n_heads, seq, d_k)


def merge_heads(x):
    """(batch, n_heads, seq, d_k) -> (batch, seq, n_heads * d_k): the inverse of split_heads."""
    batch, n_heads, seq, d_k = x.shape
    x = x.transpose(0, 2, 1, 3)  # (batch, seq, n_heads, d_k)
    return x.reshape(batch, seq, n_heads * d_k)  # (batch, seq, d_model): heads side by side


def project_heads(x, params, n_heads):
    """x (batch, seq, d_model) -> q, k, v, each (batch, n_heads, seq, d_k)."""
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_heads)
    v = split_heads(x @ params["w_v"], n_heads)
    return q, k, v


def multi_head_attention(x, params, n_heads, mask=None):
    """Self-attention over x (batch, seq, d_model) -> (batch, seq, d_model).

    `params` maps w_q, w_k, w_v, w_o to (d_model, d_model) arrays used as x @ w; the additive
    `mask` is broadcastable to (batch, n_heads, seq, seq), so the same mask serves every head.
    """
    q, k, v = project_heads(x, params, n_heads)  # (batch, n_heads, seq, d_k) each
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # (batch, n_heads, seq, d_k)
    return merge_heads(out) @ params["w_o"]  # (batch, seq, d_model)


def causal_self_attention(x, params, n_heads):
    """multi_head_attention in which position i sees only positions j <= i."""
    seq = x.shape[1]
    return multi_head_attention(x, params, n_heads, create_causal_mask(seq))


def positional_encoding(seq_len, d_model):
    """(seq_len, d_model): PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(same angle)."""
    position = np.arange(seq_len)[:, None]  # (seq_len, 1)
    two_i = np.arange(0, d_model, 2)  # (d_model // 2,): the even feature indices 2i
    angle = position / 10000 ** (two_i / d_model)  # (seq_len, d_model // 2)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.sin(angle)  # even features
    pe[:, 1::2] = np.cos(angle)  # odd features
    return pe


def embed(tokens, embedding):
    """tokens (batch, seq) ints, embedding (vocab, d_model) -> (batch, seq, d_model)."""
    seq = tokens.shape[1]
    d_model = embedding.shape[1]
    pe = np.broadcast_to(positional_encoding(seq, d_model), (tokens.shape[0], seq, d_model))
    return np.concatenate([embedding[tokens], pe], axis=-1)  # BUG: (batch, seq, 2 * d_model)


def decode_step(x_t, params, n_heads, cache=None):
    """x_t (batch, 1, d_model), the newest position -> (y_t (batch, 1, d_model), cache).

    The cache holds the keys and values of every earlier position, {"k": ..., "v": ...},
    each (batch, n_heads, t, d_k); None means no position yet.
    """
    q, k, v = project_heads(x_t, params, n_heads)  # (batch, n_heads, 1, d_k) each
    if cache is not None:
        k = np.concatenate([cache["k"], k], axis=2)  # (batch, n_heads, t + 1, d_k)
        v = np.concatenate([cache["v"], v], axis=2)
    out, _ = scaled_dot_product_attention(q, k, v)  # the newest query sees every key: no mask
    return merge_heads(out) @ params["w_o"], {"k": k, "v": v}
