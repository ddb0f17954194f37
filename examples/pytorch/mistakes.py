"""The worked example's adapter with one classic slip each, for the README, which quotes what the kit
prints about them (python -m tools.readme). From this folder:

    pytest --impl=mistakes:mask_forgotten --impl-dtype=float32
    pytest --impl=mistakes:weights_untransposed --impl-dtype=float32
"""

import math
from types import SimpleNamespace

import torch

from attention_conformance.adapters.torch_attention import derive
from my_model import CausalSelfAttention


class MaskForgotten(CausalSelfAttention):
    """my_model's layer with its causal mask forgotten: every position sees the ones after it."""

    def forward(self, x, cache=None):
        batch, seq, d_model = x.shape
        q, k, v = self.c_attn(x).split(d_model, dim=2)
        q, k, v = (
            t.view(batch, seq, self.n_heads, -1).transpose(1, 2) for t in (q, k, v)
        )  # (batch, n_heads, seq, d_k)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # no masked_fill
        y = torch.softmax(scores, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(batch, seq, d_model)), (k, v)


def adapter(layer_class=CausalSelfAttention, load_qkv=lambda w: w.T):
    """conformance_adapter's causal_self_attention and its gradient, on `layer_class`, loading w_q,
    w_k, w_v with `load_qkv`."""

    def causal_self_attention(x, params, n_heads):
        layer = layer_class(x.shape[-1], n_heads).to(x.dtype)
        weights = {"c_attn.weight": torch.cat([load_qkv(params[name]) for name in ("w_q", "w_k", "w_v")]),
                   "c_proj.weight": params["w_o"].T}
        return torch.func.functional_call(layer, weights, (x,))[0]

    forward, backward = derive(causal_self_attention, "causal_self_attention")
    return SimpleNamespace(causal_self_attention=forward, causal_self_attention_backward=backward)


mask_forgotten = adapter(layer_class=MaskForgotten)
weights_untransposed = adapter(load_qkv=lambda w: w)  # c_attn then computes x @ w.T for q, k and v
