"""head dimension hard-coded to 64

Mistake: split_heads fixes d_k = 64 and derives the number of heads as d_model // 64.
Symptom: a reshape error when d_model is not a multiple of 64; otherwise it runs silently
with d_model // 64 heads of 64 features, right only when d_model // n_heads == 64 (512 / 8).
Fix: compute d_k = d_model // n_heads from the inputs instead of fixing it.
"""

from attention_conformance.mutants import complete


def split_heads(x, n_heads):
    batch, seq, d_model = x.shape
    d_k = 64  # BUG: hard-coded head size, right only for d_model / n_heads = 512 / 8
    n_heads = d_model // d_k  # BUG: the number of heads follows from it, not from the caller
    x = x.reshape(batch, seq, n_heads, d_k)
    return x.transpose(0, 2, 1, 3)


complete(globals())
