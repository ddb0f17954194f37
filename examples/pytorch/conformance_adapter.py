"""The contract's causal_self_attention on top of my_model.CausalSelfAttention.

Run from this folder: pytest --impl=conformance_adapter --impl-dtype=float32
"""

import torch

from attention_conformance.adapters.torch_attention import to_numpy, to_torch
from my_model import CausalSelfAttention


def causal_self_attention(x, params, n_heads):
    x = to_torch(x)
    layer = CausalSelfAttention(x.shape[-1], n_heads).to(x.dtype)
    with torch.no_grad():  # nn.Linear computes x @ W^T: load the contract's weights transposed
        layer.c_attn.weight.copy_(torch.cat([to_torch(params[name]).T for name in ("w_q", "w_k", "w_v")]))
        layer.c_proj.weight.copy_(to_torch(params["w_o"]).T)
        return to_numpy(layer(x))
