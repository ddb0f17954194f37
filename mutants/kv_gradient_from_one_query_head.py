"""key/value gradient taken from one query head of its group

Mistake: in grouped-query attention's backward, each key/value head's gradient is taken from
the first query head of its group instead of summed over all the query heads that shared it.
Symptom: right for multi-head attention (groups of one) and cross-attention; in grouped-query
attention the gradients of w_k, w_v and the keys' and values' part of dx miss the other query
heads' share.
Fix: add up the group's gradients: gradient.reshape(batch, n_kv_heads, group, ...).sum(axis=2).
"""

from attention_conformance.mutants import complete


def summed_over_group(gradient, n_kv_heads):
    batch, n_heads, *rest = gradient.shape
    return gradient.reshape(batch, n_kv_heads, n_heads // n_kv_heads, *rest)[:, :, 0]  # BUG: one query head, not the sum


complete(globals())
