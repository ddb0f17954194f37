"""self-attention's dx through the queries only

Mistake: multi_head_attention_backward returns the gradient that reaches x through the queries
and drops the one through the keys and the values, although x gives all three.
Symptom: the weights' gradients are right, but dx of multi-head and causal self-attention
misses the share that reaches x through the keys and the values (grouped-query attention, whose
backward adds them itself, is right).
Fix: add both paths: return d_x + d_context, d_params.
"""

from attention_conformance.mutants import complete


def multi_head_attention_backward(x, params, n_heads, d_out, mask=None):
    d_x, d_context, d_params = attention_layer_backward(x, x, params, n_heads, n_heads, d_out, mask)
    return d_x, d_params  # BUG: the keys' and values' path, d_context, dropped


complete(globals())
