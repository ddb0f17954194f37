"""mask applied to the first head only

Bug: the layers loop over the heads and add the mask inside an `if h == 0:` left over from
debugging: head 0 is masked, every other head sees every key.
Measured: head 0 sees keys 0..i (causal) or the unpadded keys; heads 1..n_heads-1 see every key
0..seq-1: with causal_self_attention, changing position j > i moves output i through heads >= 1.
Right with one head, or without a mask.
"""

import numpy as np

from attention_conformance.reference.attention import create_causal_mask, softmax


def multi_head_attention(x, params, n_heads, mask=None):
    batch, seq, d_model = x.shape
    d_k = d_model // n_heads
    heads = []
    for h in range(n_heads):
        columns = slice(h * d_k, (h + 1) * d_k)
        q, k, v = (x @ params[name][:, columns] for name in ("w_q", "w_k", "w_v"))  # (batch, seq, d_k)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d_k)  # (batch, seq, seq)
        if mask is not None and h == 0:  # BUG: the mask must reach every head, not head 0 alone
            scores = scores + np.broadcast_to(mask, (batch, n_heads, seq, seq))[:, h]
        heads.append(softmax(scores) @ v)
    return np.concatenate(heads, axis=-1) @ params["w_o"]


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]))
