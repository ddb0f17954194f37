"""output projection applied transposed

Bug: the layers end with `@ params["w_o"].T`, copied from code that stored the output weights
as nn.Linear does (out, in); the contract's weights are used as x @ w. The weights are square,
so the transpose runs silently.
Measured: params["w_o"] plays the role of w_o.T: the output is merged @ w_o.T; q, k, v and
the attention weights are right.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, scaled_dot_product_attention
from attention_conformance.reference.heads import merge_heads, split_heads


def _output(out, params):
    return merge_heads(out) @ params["w_o"].T  # BUG: w_o is used as x @ w_o, not transposed


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = (split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    return _output(scaled_dot_product_attention(q, k, v, mask)[0], params)


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    group = n_heads // n_kv_heads
    q = split_heads(x @ params["w_q"], n_heads)
    k, v = (np.repeat(split_heads(x @ params[name], n_kv_heads), group, axis=1) for name in ("w_k", "w_v"))
    return _output(scaled_dot_product_attention(q, k, v, mask)[0], params)


def cross_attention(x, context, params, n_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k, v = (split_heads(context @ params[name], n_heads) for name in ("w_k", "w_v"))
    return _output(scaled_dot_product_attention(q, k, v, mask)[0], params)
