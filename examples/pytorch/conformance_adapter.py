"""The contract's causal_self_attention on top of my_model.CausalSelfAttention, its gradient
(contract v3) from torch.autograd, and its decoding with the layer's key/value cache.

Run from this folder: pytest --impl=conformance_adapter --impl-dtype=float32
"""

import torch

from attention_conformance.adapters.torch_attention import derive, to_numpy, to_torch
from my_model import CausalSelfAttention


def _layer(x, params, n_heads):
    """my_model's layer on the contract's weights, and those weights as the layer names them (nn.Linear
    computes x @ W^T: they go in transposed)."""
    layer = CausalSelfAttention(x.shape[-1], n_heads).to(x.dtype)
    weights = {"c_attn.weight": torch.cat([params[name].T for name in ("w_q", "w_k", "w_v")]),
               "c_proj.weight": params["w_o"].T}
    return layer, weights


def _causal_self_attention(x, params, n_heads):
    """The layer's output, its weights passed in by functional_call so that the gradient reaches them."""
    layer, weights = _layer(x, params, n_heads)
    return torch.func.functional_call(layer, weights, (x,))[0]


causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")


def decode_chunk(x_new, params, n_heads, cache=None):
    """The layer on the new positions, the keys and values of the ones before in its own cache."""
    x = to_torch(x_new)
    layer, weights = _layer(x, {name: to_torch(w) for name, w in params.items()}, n_heads)
    with torch.no_grad():
        y, cache = torch.func.functional_call(layer, weights, (x,), {"cache": cache})
    return to_numpy(y), cache


decode_step = decode_chunk
