"""The contract on PyTorch: F.scaled_dot_product_attention, nn.MultiheadAttention, a tensor KV cache.

Requires torch (`pip install 'attention-conformance[torch]'`). Tensors keep the dtype of the
suite's inputs; the callables without array inputs (mask, positional encoding) answer in
float64, the contract's default.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F


def to_torch(array):
    """A numpy array as a tensor of the same dtype (bfloat16 arrays come from ml_dtypes)."""
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array))


def to_numpy(tensor):
    """A tensor as a numpy array (bfloat16 widened to float32, which numpy has)."""
    tensor = tensor.detach()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def softmax(x, axis=-1):
    return to_numpy(torch.softmax(to_torch(x), dim=axis))


def create_causal_mask(seq_len):
    future = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)  # j > i
    return to_numpy(torch.zeros(seq_len, seq_len, dtype=torch.float64).masked_fill(future, -math.inf))


def scaled_dot_product_attention(q, k, v, mask=None):
    """PyTorch's fused attention returns no weights: the contract allows the output alone."""
    attn_mask = None if mask is None else to_torch(mask)
    return to_numpy(F.scaled_dot_product_attention(to_torch(q), to_torch(k), to_torch(v), attn_mask=attn_mask))


def split_heads(x, n_heads):
    batch, seq, d_model = x.shape
    return to_numpy(to_torch(x).view(batch, seq, n_heads, d_model // n_heads).transpose(1, 2))


def merge_heads(x):
    batch, n_heads, seq, d_k = x.shape
    return to_numpy(to_torch(x).transpose(1, 2).reshape(batch, seq, n_heads * d_k))


def _module(params, n_heads, dtype):
    """nn.MultiheadAttention holding the contract's weights (it computes x @ W^T, so transpose)."""
    d_model = params["w_q"].shape[0]
    mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True, dtype=dtype)
    with torch.no_grad():
        w = {name: to_torch(value) for name, value in params.items()}
        mha.in_proj_weight.copy_(torch.cat([w["w_q"].T, w["w_k"].T, w["w_v"].T]))
        mha.out_proj.weight.copy_(w["w_o"].T)
    return mha


def multi_head_attention(x, params, n_heads, mask=None):
    x = to_torch(x)
    batch, seq, _ = x.shape
    attn_mask = None
    if mask is not None:  # nn.MultiheadAttention takes (seq, seq) or (batch * n_heads, seq, seq)
        attn_mask = to_torch(mask).broadcast_to(batch, n_heads, seq, seq).reshape(batch * n_heads, seq, seq)
    with torch.no_grad():
        out, _ = _module(params, n_heads, x.dtype)(x, x, x, attn_mask=attn_mask, need_weights=False)
    return to_numpy(out)


def causal_self_attention(x, params, n_heads):
    return multi_head_attention(x, params, n_heads, create_causal_mask(x.shape[1]).astype(x.dtype))


def positional_encoding(seq_len, d_model):
    position = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (seq_len, 1)
    angle = position / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return to_numpy(torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(seq_len, d_model))


def embed(tokens, embedding):
    table = to_torch(embedding)
    rows = F.embedding(torch.from_numpy(tokens), table)  # (batch, seq, d_model)
    return to_numpy(rows + torch.from_numpy(positional_encoding(tokens.shape[1], table.shape[1])).to(table.dtype))


def decode_step(x_t, params, n_heads, cache=None):
    """One position through the attention, with the keys and values so far kept as tensors."""
    x_t = to_torch(x_t)  # (batch, 1, d_model)
    batch, _, d_model = x_t.shape
    w = {name: to_torch(value) for name, value in params.items()}
    q, k, v = ((x_t @ w[name]).view(batch, 1, n_heads, -1).transpose(1, 2) for name in ("w_q", "w_k", "w_v"))
    if cache is not None:
        k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # (batch, n_heads, t, d_k)
    out = F.scaled_dot_product_attention(q, k, v)  # the newest query sees every key
    y_t = out.transpose(1, 2).reshape(batch, 1, d_model) @ w["w_o"]
    return to_numpy(y_t), {"k": k, "v": v}
