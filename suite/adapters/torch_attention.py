"""The contract on PyTorch: F.scaled_dot_product_attention (with enable_gqa for grouped queries),
nn.MultiheadAttention, a tensor KV cache, and torch versions of the other callables.

Contract v3's gradients come from torch.autograd, not from a hand-written backward: each
differentiable callable is written once as a function of tensors, and `derive` makes the numpy
forward and backward of it (one line each; an adopter's adapter can do the same).

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

from attention_conformance.contract import places

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


def derive(tensor_function, capability):
    """(forward, backward): the contract's numpy `capability` and `capability`_backward, both
    made of tensor_function, which computes the forward on tensors.

    tensor_function takes the forward's arguments in the contract's order: its differentiable
    inputs (contract.DIFFERENTIABLE; params as a dict) as tensors on DEVICE in the input dtype,
    the constants (masks, positions, head counts, axis) as the suite passes them. The backward
    runs it again on tensors that record their gradient and hands d_out to torch.autograd.grad,
    so one line gives an adapter both callables:

        softmax, softmax_backward = derive(lambda x, axis=-1: torch.softmax(x, dim=axis), "softmax")
    """
    backward_name = f"{capability}_backward"
    wrt, at = places(capability)  # where the differentiable inputs sit in a call, where d_out does

    def run(args, kwargs, requires_grad):
        """(output, the differentiable inputs as the tensors tensor_function got)."""
        inputs = {place: _tensors(args[place], requires_grad) for place in wrt}
        output = tensor_function(*(inputs.get(place, arg) for place, arg in enumerate(args)), **kwargs)
        return output, list(inputs.values())

    def forward(*args, **kwargs):
        with torch.no_grad():  # no gradient asked for: no graph kept
            return to_numpy(run(args, kwargs, requires_grad=False)[0])

    def backward(*args, **kwargs):
        d_out, args = args[at], args[:at] + args[at + 1 :]
        output, inputs = run(args, kwargs, requires_grad=True)
        leaves = [tensor for value in inputs for tensor in (value.values() if isinstance(value, dict) else [value])]
        gradients = iter(torch.autograd.grad(output, leaves, to_torch(d_out).to(output.dtype)))
        result = tuple(_gradient_like(value, gradients) for value in inputs)
        return result[0] if len(result) == 1 else result

    forward.__qualname__, backward.__qualname__ = capability, backward_name  # how their reprs name them
    forward.__doc__ = tensor_function.__doc__
    return forward, backward


def _tensors(value, requires_grad):
    """An array, or each array of a dict (params), as a tensor on DEVICE."""
    if isinstance(value, dict):
        return {key: _tensors(item, requires_grad) for key, item in value.items()}
    return to_torch(value).requires_grad_(requires_grad)


def _gradient_like(value, gradients):
    """The gradient of value, in its form (a dict: the same keys), as numpy arrays taken in order
    from the iterator `gradients`."""
    if isinstance(value, dict):
        return {key: to_numpy(next(gradients)) for key in value}
    return to_numpy(next(gradients))


softmax, softmax_backward = derive(lambda x, axis=-1: torch.softmax(x, dim=axis), "softmax")


def _mask_from(seen):
    """An additive float64 mask: 0 where `seen` is True, -inf elsewhere."""
    return to_numpy(torch.zeros(seen.shape, dtype=torch.float64, device=DEVICE).masked_fill(~seen, -math.inf))


def create_causal_mask(seq_len):
    return _mask_from(torch.ones(seq_len, seq_len, dtype=torch.bool, device=DEVICE).tril())  # key j <= query i


def create_sliding_window_mask(seq_len, window):
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=DEVICE)
    return _mask_from(ones.tril() & ones.triu(diagonal=1 - window))  # 0 <= i - j < window


def _scaled_dot_product_attention(q, k, v, mask=None):
    """PyTorch's fused attention returns no weights: the contract allows the output alone. It
    broadcasts q, k and v against each other, and autograd sums each gradient back to its input."""
    attn_mask = None if mask is None else to_torch(mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)


scaled_dot_product_attention, scaled_dot_product_attention_backward = derive(
    _scaled_dot_product_attention, "scaled_dot_product_attention")


def split_heads(x, n_heads):
    batch, seq, d_model = x.shape
    return to_numpy(to_torch(x).view(batch, seq, n_heads, d_model // n_heads).transpose(1, 2))


def merge_heads(x):
    batch, n_heads, seq, d_k = x.shape
    return to_numpy(to_torch(x).transpose(1, 2).reshape(batch, seq, n_heads * d_k))


def _nn_attention(x, context, params, n_heads, mask):
    """nn.MultiheadAttention, queries from x (batch, Lq, d_model), keys and values from context
    (batch, Lk, d_model), mask an additive tensor (..., Lq, Lk) or None: (batch, Lq, d_model).

    The contract's weights go in through torch.func.functional_call rather than copied into the
    module's parameters, so that the gradient reaches params (nn.Linear computes x @ W^T: transposed).
    """
    (batch, lq, d_model), lk = x.shape, context.shape[1]
    attn_mask = None
    if mask is not None:  # nn.MultiheadAttention takes (Lq, Lk) or (batch * n_heads, Lq, Lk)
        attn_mask = mask.broadcast_to(batch, n_heads, lq, lk).reshape(batch * n_heads, lq, lk)
    mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True, dtype=x.dtype, device=DEVICE)
    weights = {"in_proj_weight": torch.cat([params["w_q"].T, params["w_k"].T, params["w_v"].T]),
               "out_proj.weight": params["w_o"].T}
    out, _ = torch.func.functional_call(mha, weights, (x, context, context),
                                        {"attn_mask": attn_mask, "need_weights": False})
    return out


def _multi_head_attention(x, params, n_heads, mask=None):
    return _nn_attention(x, x, params, n_heads, None if mask is None else to_torch(mask))


multi_head_attention, multi_head_attention_backward = derive(_multi_head_attention, "multi_head_attention")


def _causal_self_attention(x, params, n_heads):
    return _nn_attention(x, x, params, n_heads, to_torch(create_causal_mask(x.shape[1])).to(x.dtype))


causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")


def _heads(x, w, n_heads):
    """x (batch, seq, d_model) @ w, split into heads: (batch, n_heads, seq, d_k)."""
    batch, seq, _ = x.shape
    return (x @ w).view(batch, seq, n_heads, -1).transpose(1, 2)


def _merged(out, w_o):
    batch, n_heads, seq, d_k = out.shape
    return out.transpose(1, 2).reshape(batch, seq, n_heads * d_k) @ w_o


def _grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """F.scaled_dot_product_attention with enable_gqa: query head h uses key/value head h // group."""
    q, k, v = (_heads(x, params["w_q"], n_heads), _heads(x, params["w_k"], n_kv_heads),
               _heads(x, params["w_v"], n_kv_heads))
    attn_mask = None if mask is None else to_torch(mask)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, enable_gqa=True)
    return _merged(out, params["w_o"])


grouped_query_attention, grouped_query_attention_backward = derive(_grouped_query_attention, "grouped_query_attention")


def _cross_attention(x, context, params, n_heads, mask=None):
    """nn.MultiheadAttention with the context as key and value."""
    return _nn_attention(x, context, params, n_heads, None if mask is None else to_torch(mask))


cross_attention, cross_attention_backward = derive(_cross_attention, "cross_attention")


def positional_encoding(seq_len, d_model):
    position = torch.arange(seq_len, dtype=torch.float64)[:, None]  # (seq_len, 1)
    angle = position / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return to_numpy(torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(seq_len, d_model))


def embed(tokens, embedding):
    table = to_torch(embedding)
    rows = F.embedding(torch.from_numpy(tokens).to(DEVICE), table)  # (batch, seq, d_model)
    return to_numpy(rows + to_torch(positional_encoding(tokens.shape[1], table.shape[1])).to(table.dtype))


def _apply_rope(x, positions):
    """Rotary embedding as HF transformers writes it for Llama: x * cos + rotate_half(x) * sin."""
    d = x.shape[-1]
    inv_freq = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float64, device=DEVICE) / d)  # (d/2,)
    angle = torch.as_tensor(np.asarray(positions), dtype=torch.float64, device=DEVICE)[:, None] * inv_freq
    angle = torch.cat([angle, angle], dim=-1)  # (seq, d): each pair's angle, on both of its halves
    first, second = x[..., : d // 2], x[..., d // 2 :]
    rotated = torch.cat([-second, first], dim=-1)  # rotate_half
    return x * angle.cos().to(x.dtype) + rotated * angle.sin().to(x.dtype)


apply_rope, apply_rope_backward = derive(_apply_rope, "apply_rope")


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


def attention_with_lse(q, k, v, mask=None):
    """The output and torch.logsumexp of the scores, as a split-key kernel's reference test writes
    them (attention-gym, FlashInfer's tests); a query that sees no key (lse -inf) gets output 0, where
    torch.softmax would give NaN."""
    q, k, v = map(to_torch, (q, k, v))
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores + to_torch(mask).to(scores.dtype)
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.softmax(scores, dim=-1) @ v
    return to_numpy(torch.where(torch.isneginf(lse)[..., None], 0.0, out)), to_numpy(lse)


def merge_attention_states(out_a, lse_a, out_b, lse_b):
    """Two partial results merged by torch.logaddexp; an empty side (lse -inf) is never read."""
    out_a, lse_a, out_b, lse_b = map(to_torch, (out_a, lse_a, out_b, lse_b))
    lse = torch.logaddexp(lse_a, lse_b)
    parts = [torch.where(torch.isneginf(side)[..., None], 0.0, torch.exp(side - lse)[..., None] * out)
             for out, side in ((out_a, lse_a), (out_b, lse_b))]
    return to_numpy(parts[0] + parts[1]), to_numpy(lse)


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    """F.scaled_dot_product_attention sequence by sequence (enable_gqa for grouped heads), its
    mask aligned to the bottom right; a query that sees no key gets 0, where SDPA gives NaN."""
    out = torch.zeros(q.shape[0], q.shape[1], v.shape[2], dtype=to_torch(q[:0]).dtype, device=DEVICE)
    for b in range(len(cu_seqlens_q) - 1):
        rows_q, rows_k = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1]), slice(cu_seqlens_k[b], cu_seqlens_k[b + 1])
        n_q, n_k = rows_q.stop - rows_q.start, rows_k.stop - rows_k.start
        if n_q == 0 or n_k == 0:
            continue
        q_b, k_b, v_b = (to_torch(x[rows]).transpose(0, 1) for x, rows in ((q, rows_q), (k, rows_k), (v, rows_k)))
        seen = torch.ones(n_q, n_k, dtype=torch.bool, device=DEVICE)
        if causal or window is not None:
            seen = seen.tril(n_k - n_q)
        if window is not None:
            seen = seen & ~seen.tril(n_k - n_q - window)
        attended = F.scaled_dot_product_attention(q_b, k_b, v_b, attn_mask=seen, enable_gqa=q.shape[1] != k.shape[1])
        out[rows_q] = torch.where(seen.any(dim=-1)[:, None], attended, 0.0).transpose(0, 1)
    return to_numpy(out)


def paged_attention(q, k_pages, v_pages, block_table, seq_lens, window=None):
    """Each sequence's positions gathered from the pages through its row of the block table (those
    some query sees: blocks freed under a window are never touched), then
    F.scaled_dot_product_attention with the causal mask aligned to the bottom right."""
    block_size, n_q = k_pages.shape[1], q.shape[1]
    pages_k, pages_v, table = to_torch(k_pages), to_torch(v_pages), torch.as_tensor(block_table, device=DEVICE)
    out = []
    for b, length in enumerate(int(n) for n in seq_lens):
        first = 0 if window is None else max(length - n_q - window + 1, 0)
        positions = torch.arange(first, length, device=DEVICE)
        blocks, slots = table[b, positions // block_size].long(), positions % block_size
        k_b, v_b = (pages[blocks, slots].transpose(0, 1) for pages in (pages_k, pages_v))  # (n_kv_heads, n, d)
        n_k = len(positions)
        seen = torch.ones(n_q, n_k, dtype=torch.bool, device=DEVICE).tril(n_k - n_q)
        if window is not None:
            seen = seen & ~seen.tril(n_k - n_q - window)
        attended = F.scaled_dot_product_attention(to_torch(q[b]).transpose(0, 1), k_b, v_b, attn_mask=seen,
                                                  enable_gqa=q.shape[2] != k_pages.shape[2])
        out.append(attended.transpose(0, 1))
    return to_numpy(torch.stack(out))


def modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
    """The modifiers in torch, as gpt-oss's and Gemma 2's reference code writes them: the scores
    capped, biased and masked, each head's sink a column of the softmax dropped after it."""
    q, k, v = to_torch(q), to_torch(k), to_torch(v)
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    n_q, n_k = scores.shape[-2:]
    if alibi_slopes is not None:
        at = torch.arange(n_q, device=DEVICE)[:, None] + n_k - n_q
        distance = (at - torch.arange(n_k, device=DEVICE)).abs().to(scores.dtype)
        slopes = torch.as_tensor(np.asarray(alibi_slopes), device=DEVICE).to(scores.dtype)
        scores = scores - slopes[..., None, None] * distance
    if mask is not None:
        scores = scores + to_torch(mask).to(scores.dtype)
    if sinks is None:
        return to_numpy(torch.softmax(scores, dim=-1) @ v)
    sink = torch.as_tensor(np.asarray(sinks), device=DEVICE).to(scores.dtype)[:, None, None].expand(*scores.shape[:-1], 1)
    weights = torch.softmax(torch.cat([scores, sink], dim=-1), dim=-1)[..., :-1]
    return to_numpy(weights @ v)
