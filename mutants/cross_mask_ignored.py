"""cross-attention ignores the context's padding mask

Mistake: cross_attention never passes its mask on to the attention.
Symptom: without a mask it is right; with one, queries attend to the padded positions of the
context.
Fix: scaled_dot_product_attention(q, k, v, mask).
"""

from attention_conformance.mutants import complete


def cross_attention(x, context, params, n_heads, mask=None):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(context @ params["w_k"], n_heads)
    v = split_heads(context @ params["w_v"], n_heads)
    out, _ = scaled_dot_product_attention(q, k, v)  # BUG: the mask is dropped
    return merge_heads(out) @ params["w_o"]


complete(globals())
