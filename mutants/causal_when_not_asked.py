"""causal mask applied although none was asked for

Mistake: multi_head_attention applies the causal mask whatever mask it is given.
Symptom: plain self-attention cannot look ahead: each position sees only the ones before it,
and a padding mask passed in is replaced.
Fix: add the mask the caller passes (none when None); causal_self_attention is what passes
the causal one.
"""

from attention_conformance.mutants import complete


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = project_heads(x, params, n_heads)
    mask = create_causal_mask(x.shape[1])  # BUG: causal whatever the caller asked for
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out) @ params["w_o"]


complete(globals())
