"""scores scaled by the model's width, not the head's

Mistake: multi_head_attention divides each head's scores by sqrt(d_model) instead of
sqrt(d_k), d_k = d_model // n_heads.
Symptom: with several heads the weights are too flat; with one head it is right.
Fix: scale each head's scores by 1 / sqrt(d_k), the width of one head (scaled dot-product
attention on the split heads does it).
Seen in: Graylab/DL4Proteins-notebooks#12
Measured: scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_k)
"""

import numpy as np

from attention_conformance.mutants import complete


def multi_head_attention(x, params, n_heads, mask=None):
    q, k, v = project_heads(x, params, n_heads)
    d_model = x.shape[-1]
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(d_model)  # BUG: the model's width, not one head's
    if mask is not None:
        scores = scores + mask
    out = softmax(scores) @ v
    return merge_heads(out) @ params["w_o"]


complete(globals())
