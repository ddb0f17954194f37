"""The reference attention stack: the kit's default implementation and its oracle.

Every callable of the contract (docs/contract.md) is here, in numpy, written to be read.
"""

from .attention import create_causal_mask, scaled_dot_product_attention, softmax
from .decode import decode_step
from .heads import causal_self_attention, merge_heads, multi_head_attention, split_heads
from .position import embed, positional_encoding

__all__ = [
    "softmax",
    "create_causal_mask",
    "scaled_dot_product_attention",
    "split_heads",
    "merge_heads",
    "multi_head_attention",
    "causal_self_attention",
    "positional_encoding",
    "embed",
    "decode_step",
]
