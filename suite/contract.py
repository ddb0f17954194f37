"""The contract's callables in machine-readable form; docs/contract.md says what each promises.

Each callable is one capability: an implementation may provide any subset.
"""

# name -> its parameters, in order (names used in failure messages)
SIGNATURES = {
    "softmax": ("x", "axis"),
    "create_causal_mask": ("seq_len",),
    "scaled_dot_product_attention": ("q", "k", "v", "mask"),
    "split_heads": ("x", "n_heads"),
    "merge_heads": ("x",),
    "multi_head_attention": ("x", "params", "n_heads", "mask"),
    "causal_self_attention": ("x", "params", "n_heads"),
    "positional_encoding": ("seq_len", "d_model"),
    "embed": ("tokens", "embedding"),
    "decode_step": ("x_t", "params", "n_heads", "cache"),
}

CAPABILITIES = tuple(SIGNATURES)

# The dtypes the suite can draw its inputs in (--impl-dtype); bfloat16 comes from ml_dtypes.
DTYPES = ("float64", "float32", "float16", "bfloat16")
