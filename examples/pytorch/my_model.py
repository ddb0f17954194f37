"""An adopter's own PyTorch layer (nanoGPT style, its attention written out as nanoGPT's fallback
path writes it, with a key/value cache for generating): the code the kit is asked to check."""

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)  # q, k, v projections in one matrix
        self.c_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, cache=None):
        """(output, cache): `cache` holds the keys and values of the positions before x (None for
        none), the one returned those of x as well, for generating one position after another."""
        batch, seq, d_model = x.shape
        q, k, v = self.c_attn(x).split(d_model, dim=2)
        q, k, v = (
            t.view(batch, seq, self.n_heads, -1).transpose(1, 2) for t in (q, k, v)
        )  # (batch, n_heads, seq, d_k)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        n_keys = k.size(2)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        # x's positions come last: each sees the keys up to its own
        causal = torch.ones(seq, n_keys, dtype=torch.bool, device=x.device).tril(n_keys - seq)
        scores = scores.masked_fill(~causal, float("-inf"))
        y = torch.softmax(scores, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).reshape(batch, seq, d_model)), (k, v)
