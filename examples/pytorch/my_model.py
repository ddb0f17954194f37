"""An adopter's own PyTorch layer (nanoGPT style): the code the kit is asked to check."""

import torch.nn.functional as F
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)  # q, k, v projections in one matrix
        self.c_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        batch, seq, d_model = x.shape
        q, k, v = self.c_attn(x).split(d_model, dim=2)
        q, k, v = (
            t.view(batch, seq, self.n_heads, -1).transpose(1, 2) for t in (q, k, v)
        )  # (batch, n_heads, seq, d_k)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(batch, seq, d_model))
