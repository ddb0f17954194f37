"""heads split by reshape alone, without the transpose

Mistake: split_heads reshapes (batch, seq, d_model) straight to (batch, n_heads, seq, d_k).
Symptom: the right shape, but each "head" holds pieces of several positions: the values are
scrambled unless n_heads == 1.
Fix: reshape to (batch, seq, n_heads, d_k) first, then transpose to (batch, n_heads, seq, d_k).
Seen in: reczoo/FuxiCTR#30
"""

from attention_conformance.mutants import complete


def split_heads(x, n_heads):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    return x.reshape(batch, n_heads, seq, d_k)  # BUG: no transpose: positions and heads mixed


complete(globals())
