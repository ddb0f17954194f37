"""The serving callables on PyTorch's flex_attention: varlen_attention as packed documents (a
`mask_mod` over each row's sequence, FlexAttention's document masking), attention_with_lse
(its lse, the contract's mask added by a `score_mod`) and modified_attention (soft-capping and
ALiBi in a `score_mod`, the sinks from the lse).

Requires torch >= 2.5. On the CPU flex_attention runs eagerly, as the kit calls it: it is slow to
start and warns that it is not compiled, which is silenced here. $ATTENTION_TORCH_DEVICE as for
the torch adapter."""

import warnings

import numpy as np
import torch
from torch.nn.attention import flex_attention as flex

from attention_conformance.adapters.torch_attention import DEVICE, to_numpy, to_torch


def _flex(q, k, v, **options):
    with warnings.catch_warnings():  # "flex_attention called without torch.compile()": eager, as meant here
        warnings.simplefilter("ignore", UserWarning)
        return flex.flex_attention(q, k, v, enable_gqa=q.shape[1] != k.shape[1], **options)


def _with_lse(q, k, v, **options):
    """(output, lse): return_aux=AuxRequest(lse=True) where torch has it (2.9 on), else return_lse."""
    if hasattr(flex, "AuxRequest"):
        out, aux = _flex(q, k, v, return_aux=flex.AuxRequest(lse=True), **options)
        return out, aux.lse
    return _flex(q, k, v, return_lse=True, **options)


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    """The pack as one batch row of documents: query row r sees key row c of its own sequence, with
    causal up to c <= r + cu_k[b + 1] - cu_q[b + 1] (the bottom-right alignment)."""
    cu_q, cu_k = (torch.as_tensor(np.asarray(cu), device=DEVICE) for cu in (cu_seqlens_q, cu_seqlens_k))
    total_q, total_k = int(cu_q[-1]), int(cu_k[-1])
    out = np.zeros((q.shape[0], q.shape[1], v.shape[2]), dtype=np.float32 if q.dtype.name == "bfloat16" else q.dtype)
    if total_q == 0 or total_k == 0:
        return out
    # only the packed rows go to the kernel: the contract says the rows past them are never read
    heads_q, heads_k, heads_v = (to_torch(x[:rows]).transpose(0, 1)[None] for x, rows in
                                 ((q, total_q), (k, total_k), (v, total_k)))  # (1, heads, rows, d)
    sequence_q = torch.searchsorted(cu_q, torch.arange(total_q, device=DEVICE), right=True) - 1
    sequence_k = torch.searchsorted(cu_k, torch.arange(total_k, device=DEVICE), right=True) - 1
    last = torch.arange(total_q, device=DEVICE) + cu_k[sequence_q + 1] - cu_q[sequence_q + 1]  # each query's key row

    def document(b, h, row_q, row_k):
        seen = sequence_q[row_q] == sequence_k[row_k]
        if causal or window is not None:
            seen = seen & (row_k <= last[row_q])
        if window is not None:
            seen = seen & (row_k > last[row_q] - window)
        return seen

    mask = flex.create_block_mask(document, None, None, total_q, total_k, device=DEVICE)
    out[:total_q] = to_numpy(_flex(heads_q, heads_k, heads_v, block_mask=mask)[0].transpose(0, 1))
    return out


def attention_with_lse(q, k, v, mask=None):
    """flex_attention's output and lse, q, k and v folded to (rows, 1, L, d), the mask added to the
    scores; a query that sees no key gets output 0 and lse -inf from flex_attention itself."""
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    fold = lambda x: to_torch(np.broadcast_to(x, lead + x.shape[-2:]).reshape(-1, 1, *x.shape[-2:]))  # noqa: E731
    options = {}
    if mask is not None:
        additive = torch.as_tensor(np.broadcast_to(np.asarray(mask, dtype=np.float32), lead + (q.shape[-2], k.shape[-2]))
                                   .reshape(-1, q.shape[-2], k.shape[-2]), device=DEVICE)
        options["score_mod"] = lambda score, b, h, row_q, row_k: score + additive[b, row_q, row_k]
    out, lse = _with_lse(fold(q), fold(k), fold(v), **options)
    return to_numpy(out).reshape(*lead, *out.shape[-2:]), to_numpy(lse).reshape(*lead, q.shape[-2])


def modified_attention(q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
    """The modifiers as one `score_mod` (cap, ALiBi, mask: FlashAttention 2's order); the sinks,
    which flex_attention lacks, from its lse: a sink takes the share exp(sink) / (exp(sink) + exp(lse))."""
    q_t, k_t, v_t = to_torch(q), to_torch(k), to_torch(v)
    n_q, n_k = q.shape[2], k.shape[2]
    wide = np.float64 if q.dtype == np.float64 else np.float32  # the scores' dtype in the kernel
    slopes = None if alibi_slopes is None else torch.as_tensor(
        np.broadcast_to(np.asarray(alibi_slopes, dtype=wide), (q.shape[0], q.shape[1])).copy(), device=DEVICE)
    additive = None if mask is None else torch.as_tensor(
        np.broadcast_to(np.asarray(mask, dtype=wide), (q.shape[0], q.shape[1], n_q, n_k)).copy(), device=DEVICE)

    def modified(score, b, h, row_q, row_k):
        if softcap is not None:
            score = softcap * torch.tanh(score / softcap)
        if slopes is not None:
            score = score - slopes[b, h] * (row_q + n_k - n_q - row_k).abs()
        if additive is not None:
            score = score + additive[b, h, row_q, row_k]
        return score

    out, lse = _with_lse(q_t, k_t, v_t, score_mod=modified)
    if sinks is not None:
        sink = torch.as_tensor(np.asarray(sinks, dtype=wide), device=DEVICE)[:, None]  # (n_heads, 1)
        out = out * torch.sigmoid(lse.to(sink.dtype) - sink)[..., None].to(out.dtype)  # exp(lse) / (exp(lse) + exp(sink))
    return to_numpy(out)
