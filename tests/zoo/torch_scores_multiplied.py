"""PyTorch attention that multiplies by sqrt(d_k)

Bug: a PyTorch scaled_dot_product_attention (numpy in, numpy out) writes `* math.sqrt(d_k)`
where it means `/ math.sqrt(d_k)`: the scale's inverse.
Measured: the scores are multiplied by sqrt(d_k) instead of 1/sqrt(d_k), d_k times too large
(d_k = 4: 2.0 instead of 0.5); right when d_k == 1.
"""

import math

import numpy as np
import torch


def _tensor(a, dtype=None):
    return torch.tensor(np.ascontiguousarray(a, dtype=dtype))  # a copy: the inputs stay untouched


def softmax(x, axis=-1):
    return torch.softmax(_tensor(x), dim=axis).numpy()


def scaled_dot_product_attention(q, k, v, mask=None):
    dtype = np.asarray(q).dtype
    q, k, v = (_tensor(a) for a in (q, k, v))
    d_k = q.shape[-1]
    scores = torch.matmul(q, k.transpose(-2, -1)) * math.sqrt(d_k)  # BUG: multiplied by sqrt(d_k), not divided
    if mask is not None:
        scores = scores + _tensor(mask, dtype=dtype)
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, v).numpy(), weights.numpy()
