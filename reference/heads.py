"""Splitting into heads, merging them back, and multi-head self-attention."""

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
