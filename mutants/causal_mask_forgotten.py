"""causal mask forgotten

Mistake: causal_self_attention calls multi_head_attention without create_causal_mask(seq).
Symptom: position i attends to later positions j > i, so changing a later input moves
earlier outputs; it runs silently, with the right shapes.
Fix: add create_causal_mask(seq_len) to the scores before the softmax, so position i sees
no j > i.
Measured: the causal mask is not applied (each query sees every key of its sequence)
"""

from attention_conformance.mutants import complete


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads)  # BUG: no causal mask: every position sees the future


complete(globals())
