"""weight gradients transposed

Mistake: weight_gradient computes d_y^T @ x for y = x @ w, not x^T @ d_y.
Symptom: the gradient of every projection weight is the transpose of the right one: the
transposed shape (d_out, d_in), which only fits when the weight is square, and wrong values
when it is; dx is right.
Fix: dw = x^T @ d_y, summed over the batch: np.sum(x.swapaxes(-1, -2) @ d_y, axis=0).
"""

import numpy as np

from attention_conformance.mutants import complete


def weight_gradient(x, d_y):
    return np.sum(d_y.swapaxes(-1, -2) @ x, axis=0)  # BUG: d_y^T @ x, not x^T @ d_y


complete(globals())
