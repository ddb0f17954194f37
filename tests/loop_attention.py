"""A correct implementation written unlike the reference (einsum, explicit loops, triu), for
tests/test_mutation.py: mutation-testing it shows the recipe works on code that is not ours."""

import math

import numpy as np


def softmax(x, axis=-1):
    z = np.moveaxis(x, axis, -1)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.moveaxis(e / e.sum(axis=-1, keepdims=True), -1, axis)


def create_causal_mask(seq_len):
    return np.triu(np.full((seq_len, seq_len), -np.inf), k=1)


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = np.einsum("...id,...jd->...ij", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + mask
    weights = softmax(scores, axis=-1)
    return np.einsum("...ij,...jd->...id", weights, v), weights


def positional_encoding(seq_len, d_model):
    pe = np.zeros((seq_len, d_model))
    for i in range(0, d_model, 2):
        angle = np.arange(seq_len) / 10000 ** (i / d_model)
        pe[:, i], pe[:, i + 1] = np.sin(angle), np.cos(angle)
    return pe
