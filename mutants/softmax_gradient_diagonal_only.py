"""softmax gradient from the Jacobian's diagonal only

Mistake: softmax_backward multiplies d_out by y * (1 - y), the derivative of each output by its
own input, and leaves out the other entries of the Jacobian (-y_i y_j for i != j).
Symptom: the gradient is wrong wherever the softmax has more than one entry of weight: its slices
no longer sum to zero, and every attention gradient (dq, dk, and the layers' dx and weights) is off.
Fix: take the whole Jacobian-vector product: y * (d_out - sum(y * d_out, axis, keepdims=True)).
Seen in: deeplearning4j/libnd4j#440
"""

from attention_conformance.mutants import complete


def softmax_backward(x, d_out, axis=-1):
    y = softmax(x, axis=axis)
    return y * (1 - y) * d_out  # BUG: the diagonal of the Jacobian only


complete(globals())
