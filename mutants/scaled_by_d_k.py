"""scores divided by d_k, not sqrt(d_k)

Mistake: scaled_dot_product_attention divides q @ k^T by d_k instead of its square root.
Symptom: the scores are too small by sqrt(d_k), so the weights are too flat, more so the wider
the heads; with d_k == 1 it happens to be right, and with d_model = 16 and 4 heads it looks
exactly like scaling by sqrt(d_model).
Fix: divide by np.sqrt(d_k), not by d_k.
Measured: scores scaled by 1/d_k instead of 1/sqrt(d_k)
"""

from attention_conformance.mutants import complete


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / d_k  # BUG: d_k, not sqrt(d_k)
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores)
    return weights @ v, weights


complete(globals())
