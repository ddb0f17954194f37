"""The contract's formulas, written element by element: known answers for tiny inputs.

They share no code with reference/, so a bug there cannot hide in the answers the suite
expects; loops over positions and heads stand where the reference reshapes and transposes.
Slow by design: use them on inputs of a few positions only.
"""

import math

import numpy as np


def softmax(x, axis=-1):
    """Softmax of each 1-D slice along `axis`, by the formula exp(x_j - max) / sum."""
    moved = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    out = np.empty_like(moved)
    for index in np.ndindex(*moved.shape[:-1]):
        top = max(moved[index])
        e = [math.exp(value - top) for value in moved[index]]  # exp(-inf) = 0
        out[index] = [value / sum(e) for value in e]
    return np.moveaxis(out, -1, axis)


def causal_mask(seq_len):
    """mask[i, j] = -inf where j > i, else 0."""
    return np.array([[-math.inf if j > i else 0.0 for j in range(seq_len)] for i in range(seq_len)])


def scores(q, k, mask=None):
    """s[..., i, j] = (q[..., i, :] . k[..., j, :]) / sqrt(d_k) + mask[..., i, j]."""
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    q, k = np.broadcast_to(q, lead + q.shape[-2:]), np.broadcast_to(k, lead + k.shape[-2:])
    s = np.empty(lead + (q.shape[-2], k.shape[-2]))
    for index in np.ndindex(*s.shape):
        *batch, i, j = index
        s[index] = np.dot(q[(*batch, i)], k[(*batch, j)]) / math.sqrt(q.shape[-1])
    return s if mask is None else s + np.asarray(mask, dtype=np.float64)


def attention(q, k, v, mask=None):
    """(output, weights): weights = softmax of the scores over keys, output = weights @ v."""
    weights = softmax(scores(q, k, mask), axis=-1)
    return weights @ np.asarray(v, dtype=np.float64), weights


def split_heads(x, n_heads):
    """Head h of (batch, n_heads, seq, d_k) is features [h*d_k, (h+1)*d_k) of x."""
    d_k = x.shape[-1] // n_heads
    return np.stack([x[..., h * d_k : (h + 1) * d_k] for h in range(n_heads)], axis=1)


def merge_heads(x):
    """The heads of (batch, n_heads, seq, d_k) side by side along the features."""
    return np.concatenate([x[:, h] for h in range(x.shape[1])], axis=-1)


def multi_head_attention(x, params, n_heads, mask=None):
    """Each head attends with its own columns of w_q, w_k, w_v; their outputs, side by side, go through w_o."""
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    x = np.asarray(x, dtype=np.float64)
    w = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    masks = None if mask is None else np.broadcast_to(mask, (batch, n_heads, seq, seq))
    outputs = []
    for h in range(n_heads):
        columns = slice(h * d_k, (h + 1) * d_k)
        q, k, v = (x @ w[name][:, columns] for name in ("w_q", "w_k", "w_v"))
        outputs.append(attention(q, k, v, None if masks is None else masks[:, h])[0])
    return np.concatenate(outputs, axis=-1) @ w["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, causal_mask(x.shape[1]))


def positional_encoding(seq_len, d_model):
    """PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(p / 10000^(2i/d_model))."""
    pe = np.zeros((seq_len, d_model))
    for p in range(seq_len):
        for i in range(d_model // 2):
            angle = p / 10000 ** (2 * i / d_model)
            pe[p, 2 * i], pe[p, 2 * i + 1] = math.sin(angle), math.cos(angle)
    return pe


def embed(tokens, embedding):
    """Each token's row of the table plus the encoding of its position."""
    embedding = np.asarray(embedding, dtype=np.float64)
    return embedding[tokens] + positional_encoding(tokens.shape[1], embedding.shape[1])


def sliding_window_mask(seq_len, window):
    """mask[i, j] = 0 where 0 <= i - j < window, else -inf."""
    return np.array([[0.0 if 0 <= i - j < window else -math.inf for j in range(seq_len)] for i in range(seq_len)])


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """Query head h attends with the columns of key/value head h // (n_heads // n_kv_heads)."""
    batch, seq, d_model = x.shape
    d_k, group = d_model // n_heads, n_heads // n_kv_heads
    x = np.asarray(x, dtype=np.float64)
    w = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    masks = None if mask is None else np.broadcast_to(mask, (batch, n_heads, seq, seq))
    outputs = []
    for h in range(n_heads):
        own, shared = slice(h * d_k, (h + 1) * d_k), slice((h // group) * d_k, (h // group + 1) * d_k)
        q, k, v = x @ w["w_q"][:, own], x @ w["w_k"][:, shared], x @ w["w_v"][:, shared]
        outputs.append(attention(q, k, v, None if masks is None else masks[:, h])[0])
    return np.concatenate(outputs, axis=-1) @ w["w_o"]


def rope(x, positions):
    """Each pair (i, i + d/2) of position p turned by the angle p * 10000^(-2i/d)."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[-1]
    out = np.empty_like(x)
    for index in np.ndindex(*x.shape[:-1]):
        p = positions[index[-1]]
        for i in range(d // 2):
            angle = p * 10000 ** (-2 * i / d)
            a, b = x[index][i], x[index][i + d // 2]
            out[index][i], out[index][i + d // 2] = a * math.cos(angle) - b * math.sin(angle), b * math.cos(angle) + a * math.sin(angle)
    return out


def cross_attention(x, context, params, n_heads, mask=None):
    """Each head's queries from x through its columns of w_q, keys and values from the context."""
    batch, lq, d_model = x.shape
    lk = context.shape[1]
    d_k = d_model // n_heads
    x, context = np.asarray(x, dtype=np.float64), np.asarray(context, dtype=np.float64)
    w = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    masks = None if mask is None else np.broadcast_to(mask, (batch, n_heads, lq, lk))
    outputs = []
    for h in range(n_heads):
        columns = slice(h * d_k, (h + 1) * d_k)
        q, k, v = x @ w["w_q"][:, columns], context @ w["w_k"][:, columns], context @ w["w_v"][:, columns]
        outputs.append(attention(q, k, v, None if masks is None else masks[:, h])[0])
    return np.concatenate(outputs, axis=-1) @ w["w_o"]
