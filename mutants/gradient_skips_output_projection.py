"""gradient passed back without going through the output projection

Mistake: the layers' backward hands d_out straight to the heads (d_merged = d_out), as if the
output were the merged heads, instead of d_out @ w_o^T.
Symptom: w_o's own gradient is right, but dx, d_context and the gradients of w_q, w_k and w_v
are wrong in every attention layer; right only when w_o is the identity.
Fix: d_merged = d_out @ params["w_o"].T: y = merged @ w_o, so d_merged = d_y @ w_o^T.
"""

import numpy as np

from attention_conformance.mutants import complete


def attention_layer_backward(x, context, params, n_heads, n_kv_heads, d_out, mask):
    group = n_heads // n_kv_heads
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(context @ params["w_k"], n_kv_heads)
    v = split_heads(context @ params["w_v"], n_kv_heads)
    kv_head = np.arange(n_heads) // group
    out, _ = scaled_dot_product_attention(q, k[:, kv_head], v[:, kv_head], mask)
    merged = merge_heads(out)
    d_w_o = weight_gradient(merged, d_out)
    d_merged = d_out  # BUG: w_o skipped on the way back
    d_q, d_k, d_v = scaled_dot_product_attention_backward(q, k[:, kv_head], v[:, kv_head], split_heads(d_merged, n_heads),
                                                          mask)
    d_k, d_v = (summed_over_group(d, n_kv_heads) for d in (d_k, d_v))
    d_q, d_k, d_v = merge_heads(d_q), merge_heads(d_k), merge_heads(d_v)
    d_params = {
        "w_q": weight_gradient(x, d_q),
        "w_k": weight_gradient(context, d_k),
        "w_v": weight_gradient(context, d_v),
        "w_o": d_w_o,
    }
    d_x = d_q @ params["w_q"].T
    d_context = d_k @ params["w_k"].T + d_v @ params["w_v"].T
    return d_x, d_context, d_params


complete(globals())
