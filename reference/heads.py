"""Splitting into heads, merging them back, and the attention layers built on them:
multi-head, causal, grouped-query and cross-attention."""

import numpy as np

from .attention import create_causal_mask, scaled_dot_product_attention


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


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """Self-attention over x (batch, seq, d_model) with n_kv_heads key/value heads -> (batch, seq, d_model).

    w_q and w_o are (d_model, d_model); w_k and w_v are (d_model, n_kv_heads * d_k). Query head h
    attends with key/value head h // (n_heads // n_kv_heads): consecutive query heads share one.
    """
    assert n_heads % n_kv_heads == 0, f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}"
    q = split_heads(x @ params["w_q"], n_heads)  # (batch, n_heads, seq, d_k)
    k = split_heads(x @ params["w_k"], n_kv_heads)  # (batch, n_kv_heads, seq, d_k)
    v = split_heads(x @ params["w_v"], n_kv_heads)
    kv_head = np.arange(n_heads) // (n_heads // n_kv_heads)  # (n_heads,): the key/value head of query head h
    k, v = k[:, kv_head], v[:, kv_head]  # (batch, n_heads, seq, d_k): consecutive query heads share one
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # (batch, n_heads, seq, d_k)
    return merge_heads(out) @ params["w_o"]  # (batch, seq, d_model)


def cross_attention(x, context, params, n_heads, mask=None):
    """Queries from x (batch, Lq, d_model), keys and values from context (batch, Lk, d_model) -> (batch, Lq, d_model).

    The additive `mask` is broadcastable to (batch, n_heads, Lq, Lk): a padding mask over the context.
    """
    q = split_heads(x @ params["w_q"], n_heads)  # (batch, n_heads, Lq, d_k)
    k = split_heads(context @ params["w_k"], n_heads)  # (batch, n_heads, Lk, d_k)
    v = split_heads(context @ params["w_v"], n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)  # (batch, n_heads, Lq, d_k)
    return merge_heads(out) @ params["w_o"]  # (batch, Lq, d_model)
