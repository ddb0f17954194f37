"""The reference attention stack: the kit's default implementation and its oracle for the
checks marked differential.

Every callable of the contract (docs/contract.md) is here, in numpy, written to be read.
"""

from .attention import create_causal_mask, create_sliding_window_mask, scaled_dot_product_attention, softmax
from .backward import (
    apply_rope_backward,
    causal_self_attention_backward,
    cross_attention_backward,
    grouped_query_attention_backward,
    multi_head_attention_backward,
    scaled_dot_product_attention_backward,
    softmax_backward,
)
from .decode import decode_chunk, decode_step
from .heads import (
    causal_self_attention,
    cross_attention,
    grouped_query_attention,
    merge_heads,
    multi_head_attention,
    split_heads,
)
from .packed import varlen_attention
from .modified import modified_attention
from .paged import paged_attention
from .position import apply_rope, embed, positional_encoding
from .serving import attention_with_lse, merge_attention_states

__all__ = [
    "softmax",
    "create_causal_mask",
    "create_sliding_window_mask",
    "scaled_dot_product_attention",
    "split_heads",
    "merge_heads",
    "multi_head_attention",
    "causal_self_attention",
    "grouped_query_attention",
    "cross_attention",
    "positional_encoding",
    "embed",
    "apply_rope",
    "decode_step",
    "decode_chunk",
    "softmax_backward",
    "scaled_dot_product_attention_backward",
    "multi_head_attention_backward",
    "causal_self_attention_backward",
    "grouped_query_attention_backward",
    "cross_attention_backward",
    "apply_rope_backward",
    "attention_with_lse",
    "merge_attention_states",
    "varlen_attention",
    "paged_attention",
    "modified_attention",
]
