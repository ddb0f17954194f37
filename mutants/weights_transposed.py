"""projections applied as x @ w.T

Mistake: project_heads multiplies by the transposed weights, as nn.Linear would with
weights stored (in, out).
Symptom: the right shapes (the weights are square), wrong values everywhere.
Fix: use the contract's weights as they are: x @ params["w_q"] (and w_k, w_v); load them into
an nn.Linear transposed.
Measured: w_q transposed; w_k transposed; w_v transposed; w_o transposed; w_q, w_k, w_v and w_o transposed
"""

from attention_conformance.mutants import complete


def project_heads(x, params, n_heads):
    q = split_heads(x @ params["w_q"].T, n_heads)  # BUG: transposed weights
    k = split_heads(x @ params["w_k"].T, n_heads)
    v = split_heads(x @ params["w_v"].T, n_heads)
    return q, k, v


complete(globals())
