"""heads averaged, not concatenated

Mistake: merge_heads returns the mean over the heads axis.
Symptom: the merged output is (batch, seq, d_k) instead of (batch, seq, d_model): a shape
error at w_o in multi_head_attention, silent in merge_heads itself.
Fix: put the heads side by side: transpose to (batch, seq, n_heads, d_k), then reshape to
(batch, seq, n_heads * d_k).
"""

from attention_conformance.mutants import complete


def merge_heads(x):
    return x.mean(axis=1)  # BUG: (batch, seq, d_k): the heads averaged, not side by side


complete(globals())
