"""The contract on PyTorch: F.scaled_dot_product_attention (with enable_gqa for grouped queries),
nn.MultiheadAttention, a tensor KV cache, and torch versions of the other callables.

Requires torch (`pip install 'attention-conformance[torch]'`). Tensors keep the dtype of the
suite's inputs; the callables without array inputs (masks, positional encoding) answer in
float64, the contract's default. $ATTENTION_TORCH_DEVICE chooses the device (default "cpu";
"cuda", "cuda:1"...): inputs go there, answers come back.
"""

import math
import os

import numpy as np
import torch
import torch.nn.functional as F

DEVICE = os.environ.get("ATTENTION_TORCH_DEVICE", "cpu")


def to_torch(array):
    """A numpy array as a tensor of the same dtype on DEVICE (bfloat16 arrays come from ml_dtypes)."""
    if array.dtype.name == "bfloat16":
        return torch.from_numpy(array.astype(np.float32)).to(DEVICE, torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(array)).to(DEVICE)


def to_numpy(tensor):
    """A tensor as a numpy array on the CPU (bfloat16 widened to float32, which numpy has)."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def softmax(x, axis=-1):
    return to_numpy(torch.softmax(to_torch(x), dim=axis))


def _mask_from(seen):
    """An additive float64 mask: 0 where `seen` is True, -inf elsewhere."""
    return to_numpy(torch.zeros(seen.shape, dtype=torch.float64, device=DEVICE).masked_fill(~seen, -math.inf))


def create_causal_mask(seq_len):
    return _mask_from(torch.ones(seq_len, seq_len, dtype=torch.bool, device=DEVICE).tril())  # key j <= query i


def create_sliding_window_mask(seq_len, window):
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=DEVICE)
    return _mask_from(ones.tril() & ones.triu(diagonal=1 - window))  # 0 <= i - j < window


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
    mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True, dtype=dtype, device=DEVICE)
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


def _heads(x, w, n_heads):
    """x (batch, seq, d_model) @ w, split into heads: (batch, n_heads, seq, d_k)."""
    batch, seq, _ = x.shape
    return (x @ w).view(batch, seq, n_heads, -1).transpose(1, 2)


def _merged(out, w_o):
    batch, n_heads, seq, d_k = out.shape
    return out.transpose(1, 2).reshape(batch, seq, n_heads * d_k) @ w_o


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """F.scaled_dot_product_attention with enable_gqa: query head h uses key/value head h // group."""
    x, w = to_torch(x), {name: to_torch(value) for name, value in params.items()}
    q, k, v = _heads(x, w["w_q"], n_heads), _heads(x, w["w_k"], n_kv_heads), _heads(x, w["w_v"], n_kv_heads)
    attn_mask = None if mask is None else to_torch(mask)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, enable_gqa=True)
    return to_numpy(_merged(out, w["w_o"]))


def cross_attention(x, context, params, n_heads, mask=None):
    """nn.MultiheadAttention with the context as key and value."""
    x, context = to_torch(x), to_torch(context)
    batch, lq, _ = x.shape
    attn_mask = None
    if mask is not None:
        lk = context.shape[1]
        attn_mask = to_torch(mask).broadcast_to(batch, n_heads, lq, lk).reshape(batch * n_heads, lq, lk)
    with torch.no_grad():
        out, _ = _module(params, n_heads, x.dtype)(x, context, context, attn_mask=attn_mask, need_weights=False)
    return to_numpy(out)


def positional_encoding(seq_len, d_model):
    position = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (seq_len, 1)
    angle = position / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return to_numpy(torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(seq_len, d_model))


def embed(tokens, embedding):
    table = to_torch(embedding)
    rows = F.embedding(torch.from_numpy(tokens).to(DEVICE), table)  # (batch, seq, d_model)
    return to_numpy(rows + to_torch(positional_encoding(tokens.shape[1], table.shape[1])).to(table.dtype))


def apply_rope(x, positions):
    """Rotary embedding as HF transformers writes it for Llama: x * cos + rotate_half(x) * sin."""
    x = to_torch(x)
    d = x.shape[-1]
    inv_freq = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64, device=DEVICE) / d)  # (d/2,)
    angle = torch.as_tensor(np.asarray(positions), dtype=torch.float64, device=DEVICE)[:, None] * inv_freq
    angle = torch.cat([angle, angle], dim=-1)  # (seq, d): each pair's angle, on both of its halves
    first, second = x[..., : d // 2], x[..., d // 2 :]
    rotated = torch.cat([-second, first], dim=-1)  # rotate_half
    return to_numpy(x * angle.cos().to(x.dtype) + rotated * angle.sin().to(x.dtype))


def decode_chunk(x_new, params, n_heads, cache=None):
    """The new positions through F.scaled_dot_product_attention, the keys and values so far kept as
    tensors; the causal mask aligned to the bottom right (torch.nn.attention.bias.causal_lower_right)."""
    from torch.nn.attention.bias import causal_lower_right

    x_new, w = to_torch(x_new), {name: to_torch(value) for name, value in params.items()}
    q, k, v = (_heads(x_new, w[name], n_heads) for name in ("w_q", "w_k", "w_v"))
    if cache is not None:
        k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)  # (batch, n_heads, t + n, d_k)
    mask = causal_lower_right(q.shape[2], k.shape[2])
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return to_numpy(_merged(out, w["w_o"])), {"k": k, "v": v}


def decode_step(x_t, params, n_heads, cache=None):
    return decode_chunk(x_t, params, n_heads, cache)
