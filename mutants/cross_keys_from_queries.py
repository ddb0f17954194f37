"""cross-attention takes its keys from the queries' input

Mistake: cross_attention projects keys and values from x instead of the context.
Symptom: the context is never used: it is self-attention over x (a shape error when the
context has another length and a mask over it is given).
Fix: k = split_heads(context @ w_k, n_heads), v = split_heads(context @ w_v, n_heads).
"""

from attention_conformance.mutants import complete


def cross_attention(x, context, params, n_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_heads)  # BUG: x, not the context
    v = split_heads(x @ params["w_v"], n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]


complete(globals())
