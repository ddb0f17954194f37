"""output projection forgotten

Mistake: multi_head_attention returns the merged heads without multiplying by w_o.
Symptom: the right shape, wrong values: the heads' outputs are never mixed; w_o is not used.
Fix: return merge_heads(out) @ params["w_o"].
"""

from attention_conformance.mutants import complete


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = project_heads(x, params, n_heads)
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    return merge_heads(out)  # BUG: w_o never applied


complete(globals())
