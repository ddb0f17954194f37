"""The backward pass (contract v3, training): for each differentiable callable F, F_backward(...,
d_out, ...) is the gradient of sum(F(...) * d_out) with respect to F's inputs.

Each one recomputes what it needs of the forward pass (the scores, the weights, the heads), as
attention kernels do rather than keeping the weights, then runs the chain rule back through it,
one step per forward step, in reverse order.
"""

import numpy as np

from .attention import create_causal_mask, scaled_dot_product_attention, softmax
from .heads import merge_heads, split_heads
from .position import rotary_angles


def softmax_backward(x, d_out, axis=-1):
    """dx for y = softmax(x, axis): the Jacobian-vector product y * (d_out - sum(y * d_out)).

    dy_i/dx_j = y_i (delta_ij - y_j), so dx_j = sum_i d_out_i y_i (delta_ij - y_j)
    = y_j (d_out_j - sum_i y_i d_out_i): every entry of a slice feels every other through the sum.
    An entry of weight 0 (a -inf logit) gets gradient 0.
    """
    y = softmax(x, axis=axis)
    return y * (d_out - np.sum(y * d_out, axis=axis, keepdims=True))


def scaled_dot_product_attention_backward(q, k, v, d_out, mask=None):
    """(dq, dk, dv), each the shape of its input (a broadcast input's gradient summed back to it).

    Forward: scores = q @ k^T * scale + mask, weights = softmax(scores), out = weights @ v.
    """
    scale = 1 / np.sqrt(q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) * scale  # (..., Lq, Lk)
    if mask is not None:
        scores = scores + mask  # a constant: no gradient, but it zeroes the weights the backward uses
    weights = softmax(scores)
    d_v = weights.swapaxes(-1, -2) @ d_out  # out = weights @ v  =>  dv = weights^T @ d_out: (..., Lk, d_v)
    d_weights = d_out @ v.swapaxes(-1, -2)  # and d_weights = d_out @ v^T: (..., Lq, Lk)
    d_scores = softmax_backward(scores, d_weights)  # over the keys, the softmax's axis
    d_q = d_scores @ k * scale  # scores = q @ k^T * scale  =>  dq = d_scores @ k * scale
    d_k = d_scores.swapaxes(-1, -2) @ q * scale  # and dk = d_scores^T @ q * scale: (..., Lk, d_k)
    return unbroadcast(d_q, q.shape), unbroadcast(d_k, k.shape), unbroadcast(d_v, v.shape)


def unbroadcast(gradient, shape):
    """The gradient of an input of `shape` that broadcasting stretched to gradient.shape: the
    gradient of every copy, summed back onto the input (the leading axes it lacked, its axes of 1)."""
    gradient = np.sum(gradient, axis=tuple(range(gradient.ndim - len(shape))))
    return np.sum(gradient, axis=tuple(axis for axis, size in enumerate(shape) if size == 1), keepdims=True)


def weight_gradient(x, d_y):
    """dw for y = x @ w, x (batch, seq, d_in): x^T @ d_y, summed over the batch rows: (d_in, d_out)."""
    return np.sum(x.swapaxes(-1, -2) @ d_y, axis=0)


def attention_layer_backward(x, context, params, n_heads, n_kv_heads, d_out, mask):
    """(dx through the queries, d_context through the keys and values, d_params) of the layer
    whose queries come from x and keys and values from context, query head h using key/value
    head h // (n_heads // n_kv_heads) (multi-head, grouped-query and cross-attention alike)."""
    group = n_heads // n_kv_heads
    q = split_heads(x @ params["w_q"], n_heads)  # (batch, n_heads, Lq, d_k)
    k = split_heads(context @ params["w_k"], n_kv_heads)  # (batch, n_kv_heads, Lk, d_k)
    v = split_heads(context @ params["w_v"], n_kv_heads)
    kv_head = np.arange(n_heads) // group  # (n_heads,): the key/value head of query head h
    out, _ = scaled_dot_product_attention(q, k[:, kv_head], v[:, kv_head], mask)
    merged = merge_heads(out)  # (batch, Lq, d_model)
    # y = merged @ w_o
    d_w_o = weight_gradient(merged, d_out)
    d_merged = d_out @ params["w_o"].T  # (batch, Lq, d_model)
    # merge_heads only moves numbers: its backward moves them back, as split_heads does
    d_q, d_k, d_v = scaled_dot_product_attention_backward(q, k[:, kv_head], v[:, kv_head], split_heads(d_merged, n_heads),
                                                          mask)
    # Each key/value head served `group` query heads: its gradient is the sum of theirs.
    d_k, d_v = (summed_over_group(d, n_kv_heads) for d in (d_k, d_v))  # (batch, n_kv_heads, Lk, d_k)
    d_q, d_k, d_v = merge_heads(d_q), merge_heads(d_k), merge_heads(d_v)  # the projections' outputs, heads side by side
    d_params = {
        "w_q": weight_gradient(x, d_q),
        "w_k": weight_gradient(context, d_k),
        "w_v": weight_gradient(context, d_v),
        "w_o": d_w_o,
    }
    d_x = d_q @ params["w_q"].T  # q = x @ w_q  =>  dx = dq @ w_q^T
    d_context = d_k @ params["w_k"].T + d_v @ params["w_v"].T  # context feeds both the keys and the values
    return d_x, d_context, d_params


def summed_over_group(gradient, n_kv_heads):
    """(batch, n_heads, ...) -> (batch, n_kv_heads, ...): the gradients of each run of n_heads // n_kv_heads
    consecutive query heads, which shared one key/value head, added up."""
    batch, n_heads, *rest = gradient.shape
    return np.sum(gradient.reshape(batch, n_kv_heads, n_heads // n_kv_heads, *rest), axis=2)


def multi_head_attention_backward(x, params, n_heads, d_out, mask=None):
    """(dx, d_params): x gives the queries, the keys and the values, so its gradient is the sum of all three paths."""
    d_x, d_context, d_params = attention_layer_backward(x, x, params, n_heads, n_heads, d_out, mask)
    return d_x + d_context, d_params


def causal_self_attention_backward(x, params, n_heads, d_out):
    """(dx, d_params) of multi_head_attention with the causal mask."""
    return multi_head_attention_backward(x, params, n_heads, d_out, create_causal_mask(x.shape[1]))


def grouped_query_attention_backward(x, params, n_heads, n_kv_heads, d_out, mask=None):
    """(dx, d_params); d_params["w_k"] and ["w_v"] are (d_model, n_kv_heads * d_k), like w_k and w_v."""
    assert n_heads % n_kv_heads == 0, f"n_heads={n_heads} is not divisible by n_kv_heads={n_kv_heads}"
    d_x, d_context, d_params = attention_layer_backward(x, x, params, n_heads, n_kv_heads, d_out, mask)
    return d_x + d_context, d_params


def cross_attention_backward(x, context, params, n_heads, d_out, mask=None):
    """(dx, d_context, d_params): x gives the queries, context the keys and the values."""
    return attention_layer_backward(x, context, params, n_heads, n_heads, d_out, mask)


def apply_rope_backward(x, positions, d_out):
    """dx for apply_rope: each pair of features turned by -angle, the transpose of the turn by +angle.

    Forward: (first, second) -> (first cos - second sin, second cos + first sin), a rotation R;
    its gradient is R^T d_out = (d_first cos + d_second sin, d_second cos - d_first sin). x only
    gives the shape: the rotation does not depend on it.
    """
    half = x.shape[-1] // 2
    angle = rotary_angles(positions, x.shape[-1])  # (seq, d/2)
    cos, sin = np.cos(angle), np.sin(angle)
    d_first, d_second = d_out[..., :half], d_out[..., half:]
    return np.concatenate([d_first * cos + d_second * sin, d_second * cos - d_first * sin], axis=-1)
