"""The contract on JAX: jax.nn.dot_product_attention and a jitted multi-head layer.

Requires jax (`pip install 'attention-conformance[jax]'`). jax.nn.dot_product_attention
computes in float32 at best, so this adapter conforms at float32 and below, not at float64.
Importing it turns on JAX's float64 arrays (jax_enable_x64) so that inputs keep their dtype.
"""

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def softmax(x, axis=-1):
    return np.asarray(jax.nn.softmax(jnp.asarray(x), axis=axis))


def scaled_dot_product_attention(q, k, v, mask=None):
    """jax.nn.dot_product_attention, which computes in float32 whatever the input dtype.

    It wants (batch, seq, heads, d) with one d for q, k and v: the leading axes are folded
    into the batch, and the narrower of d_k, d_v padded with zeros (which changes no dot
    product; the scale stays 1 / sqrt(d_k)). It returns no weights: the contract allows that.
    """
    (lq, d_k), (lk, d_v) = q.shape[-2:], v.shape[-2:]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    width = max(d_k, d_v)

    def to_layout(a):  # (..., L, d) -> (batch, L, 1 head, width)
        a = np.broadcast_to(a, lead + a.shape[-2:]).reshape(-1, *a.shape[-2:])
        return np.pad(a, [(0, 0), (0, 0), (0, width - a.shape[-1])])[:, :, None]

    bias = None if mask is None else np.broadcast_to(mask, lead + (lq, lk)).reshape(-1, 1, lq, lk)
    out = jax.nn.dot_product_attention(*map(to_layout, (q, k, v)), bias=bias, scale=1 / math.sqrt(d_k))
    return np.asarray(out[:, :, 0, :d_v]).reshape(lead + (lq, d_v))


@partial(jax.jit, static_argnames=("n_heads", "is_causal"))
def _multi_head(x, w_q, w_k, w_v, w_o, bias, n_heads, is_causal):
    batch, seq, d_model = x.shape

    def heads(w):
        return (x @ w).reshape(batch, seq, n_heads, d_model // n_heads)  # (batch, seq, n_heads, d_k)

    out = jax.nn.dot_product_attention(heads(w_q), heads(w_k), heads(w_v), bias=bias, is_causal=is_causal)
    return out.reshape(batch, seq, d_model) @ w_o  # heads side by side, then the output projection


def multi_head_attention(x, params, n_heads, mask=None, is_causal=False):
    batch, seq, _ = x.shape
    bias = None if mask is None else np.broadcast_to(mask, (batch, n_heads, seq, seq))
    weights = (params[name] for name in ("w_q", "w_k", "w_v", "w_o"))
    return np.asarray(_multi_head(x, *weights, bias, n_heads=n_heads, is_causal=is_causal))


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, is_causal=True)
