"""values projected with the key weights

Mistake: project_heads computes v = x @ w_k: a copy-and-paste slip.
Symptom: the right shapes, wrong values; w_v is never used.
Fix: v = split_heads(x @ params["w_v"], n_heads).
Measured: w_k where w_v belongs
"""

from attention_conformance.mutants import complete


def project_heads(x, params, n_heads):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_k"], n_heads)
    v = split_heads(x @ params["w_k"], n_heads)  # BUG: w_k where w_v belongs
    return q, k, v


complete(globals())
