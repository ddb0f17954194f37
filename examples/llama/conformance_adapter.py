"""The contract on Hugging Face transformers' Llama attention: LlamaAttention (grouped-query heads,
eager attention) for grouped-query, multi-head and causal self-attention, and LlamaRotaryEmbedding
with apply_rotary_pos_emb for the rotary embedding; their gradients (contract v3) from torch.autograd.

Needs transformers and torch (pip install '<kit>[transformers]'). Run from this folder:
    pytest --impl=conformance_adapter --impl-dtype=float32
"""

import torch
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding, apply_rotary_pos_emb

from attention_conformance.adapters.torch_attention import derive, to_numpy, to_torch

# Llama's eager attention computes its softmax in float32 whatever its inputs (modeling_llama's
# eager_attention_forward): a float64 run would only show that.
CONFORMANCE = {"dtypes": ["float32", "float16", "bfloat16"]}
PROJECTIONS = {"w_q": "q_proj", "w_k": "k_proj", "w_v": "v_proj", "w_o": "o_proj"}  # LlamaAttention's nn.Linear of each


def _config(d_model, n_heads, n_kv_heads, head_dim):
    config = LlamaConfig(hidden_size=d_model, num_attention_heads=n_heads, num_key_value_heads=n_kv_heads,
                         head_dim=head_dim, attention_bias=False, rope_theta=10000.0)
    config._attn_implementation = "eager"  # the plain attention of modeling_llama, no kernel
    return config


def _layer(d_model, n_heads, n_kv_heads, dtype):
    """A LlamaAttention of these sizes; _run gives it the contract's weights."""
    return LlamaAttention(_config(d_model, n_heads, n_kv_heads, d_model // n_heads), layer_idx=0).to(dtype).eval()


def _run(layer, params, *args):
    """layer(*args) computing with the contract's weights, passed in by functional_call so that the
    gradient reaches them (nn.Linear computes x @ W^T: the weights go in transposed)."""
    weights = {f"{linear}.weight": params[name].T for name, linear in PROJECTIONS.items()}
    return torch.func.functional_call(layer, weights, args)


def _grouped_query_attention(x, params, n_heads, n_kv_heads, mask=None):
    """Llama's attention with the rotation turned off (cos 1, sin 0): the contract's grouped-query
    attention has no positions of its own."""
    batch, seq, d_model = x.shape
    ones = torch.ones(batch, seq, d_model // n_heads, dtype=x.dtype)
    attention_mask = None if mask is None else to_torch(mask).to(x.dtype).broadcast_to(batch, n_heads, seq, seq)
    out, _ = _run(_layer(d_model, n_heads, n_kv_heads, x.dtype), params, x, (ones, 0 * ones), attention_mask)
    return out


grouped_query_attention, grouped_query_attention_backward = derive(_grouped_query_attention, "grouped_query_attention")


def _multi_head_attention(x, params, n_heads, mask=None):
    return _grouped_query_attention(x, params, n_heads, n_heads, mask)


multi_head_attention, multi_head_attention_backward = derive(_multi_head_attention, "multi_head_attention")


def _causal_self_attention(x, params, n_heads):
    seq = x.shape[1]
    causal = torch.full((seq, seq), float("-inf"), dtype=torch.float64).triu(1)
    return _grouped_query_attention(x, params, n_heads, n_heads, to_numpy(causal))


causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")


def _apply_rope(x, positions):
    """LlamaRotaryEmbedding's cos and sin at the positions, applied by apply_rotary_pos_emb."""
    *lead, seq, d = x.shape
    rotary = LlamaRotaryEmbedding(_config(d, 1, 1, d))
    position_ids = torch.as_tensor(positions, dtype=torch.long)[None]  # (1, seq)
    cos, sin = rotary(x, position_ids)  # (1, seq, d)
    heads = x.reshape(-1, 1, seq, d)  # (batch, 1 head, seq, d): the layout apply_rotary_pos_emb takes
    rotated, _ = apply_rotary_pos_emb(heads, heads, cos, sin)
    return rotated.reshape(*lead, seq, d)


apply_rope, apply_rope_backward = derive(_apply_rope, "apply_rope")
