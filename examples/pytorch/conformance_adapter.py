"""The contract's causal_self_attention on top of my_model.CausalSelfAttention, and its gradient
(contract v3) from torch.autograd.

Run from this folder: pytest --impl=conformance_adapter --impl-dtype=float32
"""

import torch

from attention_conformance.adapters.torch_attention import derive
from my_model import CausalSelfAttention


def _causal_self_attention(x, params, n_heads):
    """my_model's layer computing with the contract's weights, passed in by functional_call so that the
    gradient reaches them (nn.Linear computes x @ W^T: the weights go in transposed)."""
    layer = CausalSelfAttention(x.shape[-1], n_heads).to(x.dtype)
    weights = {"c_attn.weight": torch.cat([params[name].T for name in ("w_q", "w_k", "w_v")]),
               "c_proj.weight": params["w_o"].T}
    return torch.func.functional_call(layer, weights, (x,))


causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")
