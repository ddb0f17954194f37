"""heads merged by reshape alone, without the transpose

Mistake: merge_heads reshapes (batch, n_heads, seq, d_k) straight to (batch, seq, n_heads * d_k).
Symptom: the right shape, but each position's features come from several positions of one
head: the values are scrambled unless n_heads == 1.
Fix: transpose to (batch, seq, n_heads, d_k) first, then reshape.
Seen in: jsbaan/transformer-from-scratch#6
"""

from attention_conformance.mutants import complete


def merge_heads(x):
    batch, n_heads, seq, d_k = x.shape
    return x.reshape(batch, seq, n_heads * d_k)  # BUG: no transpose back: positions and heads mixed


complete(globals())
