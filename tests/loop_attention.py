"""A correct implementation of the whole contract written unlike the reference (einsum, explicit
loops over heads and positions, triu): the suite must pass it (tests/test_oracle.py), and
mutation-testing it shows the recipe works on code that is not ours (tests/test_mutation.py)."""

import math

import numpy as np


def softmax(x, axis=-1):
    z = np.moveaxis(x, axis, -1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.moveaxis(e / e.sum(axis=-1, keepdims=True), -1, axis)


def create_causal_mask(seq_len):
    return np.triu(np.full((seq_len, seq_len), -np.inf), k=1)


def create_sliding_window_mask(seq_len, window):
    mask = np.full((seq_len, seq_len), -np.inf)
    for i in range(seq_len):
        mask[i, max(0, i - window + 1) : i + 1] = 0.0
    return mask


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = np.einsum("...id,...jd->...ij", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores, axis=-1)
    return np.einsum("...ij,...jd->...id", weights, v), weights


def split_heads(x, n_heads):
    d_k = x.shape[-1] // n_heads
    return np.stack([x[:, :, h * d_k : (h + 1) * d_k] for h in range(n_heads)], axis=1)


def merge_heads(x):
    return np.concatenate([x[:, h] for h in range(x.shape[1])], axis=-1)


def _layer(x, context, params, n_heads, n_kv_heads, mask):
    """Head by head: query head h with key/value head h // (n_heads // n_kv_heads)."""
    d_k = x.shape[-1] // n_heads
    group = n_heads // n_kv_heads
    outputs = []
    for h in range(n_heads):
        g = h // group
        q = np.einsum("bsm,md->bsd", x, params["w_q"][:, h * d_k : (h + 1) * d_k])
        k = np.einsum("bsm,md->bsd", context, params["w_k"][:, g * d_k : (g + 1) * d_k])
        v = np.einsum("bsm,md->bsd", context, params["w_v"][:, g * d_k : (g + 1) * d_k])
        head_mask = None if mask is None else np.broadcast_to(mask, (x.shape[0], n_heads, x.shape[1], context.shape[1]))[:, h]
        outputs.append(scaled_dot_product_attention(q, k, v, head_mask)[0])
    return np.einsum("bsm,mo->bso", np.concatenate(outputs, axis=-1), params["w_o"])


def multi_head_attention(x, params, n_heads, mask=None):
    return _layer(x, x, params, n_heads, n_heads, mask)


def causal_self_attention(x, params, n_heads):
    return _layer(x, x, params, n_heads, n_heads, create_causal_mask(x.shape[1]))


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    return _layer(x, x, params, n_heads, n_kv_heads, mask)


def cross_attention(x, context, params, n_heads, mask=None):
    return _layer(x, context, params, n_heads, n_heads, mask)


def positional_encoding(seq_len, d_model):
    pe = np.zeros((seq_len, d_model))
    for i in range(0, d_model, 2):
        angle = np.arange(seq_len) / 10000 ** (i / d_model)
        pe[:, i], pe[:, i + 1] = np.sin(angle), np.cos(angle)
    return pe


def embed(tokens, embedding):
    return np.stack([embedding[row] for row in tokens]) + positional_encoding(tokens.shape[1], embedding.shape[1])


def apply_rope(x, positions):
    half = x.shape[-1] // 2
    out = np.empty(x.shape)
    for i in range(half):  # pair (i, i + d/2), turned by position * 10000^(-2i/d)
        angle = np.asarray(positions, dtype=np.float64) * 10000.0 ** (-2 * i / x.shape[-1])
        cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
        first, second = x[..., :, i : i + 1], x[..., :, i + half : i + half + 1]
        out[..., :, i : i + 1] = first * cos - second * sin
        out[..., :, i + half : i + half + 1] = second * cos + first * sin
    return out.astype(x.dtype)


def decode_chunk(x_new, params, n_heads, cache=None):
    """The cache is the list of every position's input so far: each call attends over all of them."""
    rows = (cache or []) + [x_new[:, t : t + 1] for t in range(x_new.shape[1])]
    prefix = np.concatenate(rows, axis=1)
    n, total = x_new.shape[1], prefix.shape[1]
    mask = np.full((n, total), -np.inf)
    for i in range(n):
        mask[i, : total - n + i + 1] = 0.0
    y = _layer(x_new, prefix, params, n_heads, n_heads, mask)
    return y, rows


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
