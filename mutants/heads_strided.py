"""features dealt to the heads in turn, not in blocks

Mistake: split_heads gives head h the features h, h + n_heads, h + 2 n_heads... instead of
the block [h*d_k, (h+1)*d_k).
Symptom: the right shapes, but every head mixes the features meant for all of them, so
multi-head attention with the contract's weights is wrong unless n_heads == 1.
Fix: reshape to (batch, seq, n_heads, d_k): the head index varies slowest.
"""

from attention_conformance.mutants import complete


def split_heads(x, n_heads):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    x = x.reshape(batch, seq, d_k, n_heads)  # BUG: the head index varies fastest: strided features
    return x.transpose(0, 3, 1, 2)


complete(globals())
