"""The contract on Hugging Face transformers' Llama attention: LlamaAttention (grouped-query heads,
eager attention) for grouped-query, multi-head and causal self-attention, and LlamaRotaryEmbedding
with apply_rotary_pos_emb for the rotary embedding.

Needs transformers and torch (pip install '<kit>[transformers]'). Run from this folder:
    pytest --impl=conformance_adapter --impl-dtype=float32
"""

import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding, apply_rotary_pos_emb

from attention_conformance.adapters.torch_attention import to_numpy, to_torch

# Llama's eager attention computes its softmax in float32 whatever its inputs (modeling_llama's
# eager_attention_forward): a float64 run would only show that.
CONFORMANCE = {"dtypes": ["float32", "float16", "bfloat16"]}


def _config(d_model, n_heads, n_kv_heads, head_dim):
    config = LlamaConfig(hidden_size=d_model, num_attention_heads=n_heads, num_key_value_heads=n_kv_heads,
                         head_dim=head_dim, attention_bias=False, rope_theta=10000.0)
    config._attn_implementation = "eager"  # the plain attention of modeling_llama, no kernel
    return config


def _layer(params, n_heads, n_kv_heads, dtype):
    """A LlamaAttention holding the contract's weights (nn.Linear computes x @ W^T: load them transposed)."""
    d_model = params["w_q"].shape[0]
    layer = LlamaAttention(_config(d_model, n_heads, n_kv_heads, d_model // n_heads), layer_idx=0).to(dtype).eval()
    with torch.no_grad():
        for name, linear in (("w_q", layer.q_proj), ("w_k", layer.k_proj), ("w_v", layer.v_proj), ("w_o", layer.o_proj)):
            linear.weight.copy_(to_torch(params[name]).T)
    return layer


def grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """Llama's attention with the rotation turned off (cos 1, sin 0): the contract's grouped-query
    attention has no positions of its own."""
    x = to_torch(x)
    batch, seq, d_model = x.shape
    ones = torch.ones(batch, seq, d_model // n_heads, dtype=x.dtype)
    attention_mask = None if mask is None else to_torch(mask).to(x.dtype).broadcast_to(batch, n_heads, seq, seq)
    with torch.no_grad():
        out, _ = _layer(params, n_heads, n_kv_heads, x.dtype)(x, (ones, 0 * ones), attention_mask)
    return to_numpy(out)


def multi_head_attention(x, params, n_heads, mask=None):
    return grouped_query_attention(x, params, n_heads, n_heads, mask)


def causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    causal = torch.full((seq, seq), float("-inf"), dtype=torch.float64).triu(1)
    return grouped_query_attention(x, params, n_heads, n_heads, to_numpy(causal).astype(x.dtype))


def apply_rope(x, positions):
    """LlamaRotaryEmbedding's cos and sin at the positions, applied by apply_rotary_pos_emb."""
    x = to_torch(x)
    *lead, seq, d = x.shape
    rotary = LlamaRotaryEmbedding(_config(d, 1, 1, d))
    position_ids = torch.as_tensor(positions, dtype=torch.long)[None]  # (1, seq)
    cos, sin = rotary(x, position_ids)  # (1, seq, d)
    heads = x.reshape(-1, 1, seq, d)  # (batch, 1 head, seq, d): the layout apply_rotary_pos_emb takes
    rotated, _ = apply_rotary_pos_emb(heads, heads, cos, sin)
    return to_numpy(rotated.reshape(*lead, seq, d))
