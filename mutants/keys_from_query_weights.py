"""keys projected with the query weights

Mistake: project_heads computes k = x @ w_q: a copy-and-paste slip.
Symptom: the right shapes, wrong values; every score is q . q, so each query weighs itself most,
and w_k is never used.
Fix: k = split_heads(x @ params["w_k"], n_heads).
Measured: w_q where w_k belongs
"""

from attention_conformance.mutants import complete


def project_heads(x, params, n_heads):
    q = split_heads(x @ params["w_q"], n_heads)
    k = split_heads(x @ params["w_q"], n_heads)  # BUG: w_q where w_k belongs
    v = split_heads(x @ params["w_v"], n_heads)
    return q, k, v


complete(globals())
