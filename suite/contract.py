"""The contract's callables in machine-readable form; docs/contract.md says what each promises.

Each callable is one capability: an implementation may provide any subset.
"""

# name -> its parameters, in order (names used in failure messages)
SIGNATURES = {
    "softmax": ("x", "axis"),
    "create_causal_mask": ("seq_len",),
    "create_sliding_window_mask": ("seq_len", "window"),
    "scaled_dot_product_attention": ("q", "k", "v", "mask"),
    "split_heads": ("x", "n_heads"),
    "merge_heads": ("x",),
    "multi_head_attention": ("x", "params", "n_heads", "mask"),
    "causal_self_attention": ("x", "params", "n_heads"),
    "grouped_query_attention": ("x", "params", "n_heads", "n_kv_heads", "mask"),
    "cross_attention": ("x", "context", "params", "n_heads", "mask"),
    "positional_encoding": ("seq_len", "d_model"),
    "embed": ("tokens", "embedding"),
    "apply_rope": ("x", "positions"),
    "decode_step": ("x_t", "params", "n_heads", "cache"),
    "decode_chunk": ("x_new", "params", "n_heads", "cache"),
    # Contract v3, training: the gradient of sum(F(...) * d_out) with respect to F's differentiable
    # inputs (DIFFERENTIABLE), d_out inserted after F's required arguments.
    "softmax_backward": ("x", "d_out", "axis"),
    "scaled_dot_product_attention_backward": ("q", "k", "v", "d_out", "mask"),
    "multi_head_attention_backward": ("x", "params", "n_heads", "d_out", "mask"),
    "causal_self_attention_backward": ("x", "params", "n_heads", "d_out"),
    "grouped_query_attention_backward": ("x", "params", "n_heads", "n_kv_heads", "d_out", "mask"),
    "cross_attention_backward": ("x", "context", "params", "n_heads", "d_out", "mask"),
    "apply_rope_backward": ("x", "positions", "d_out"),
    # Contract v3, serving: each query's log-sum-exp beside its output, and the merge of two
    # partial results over disjoint key sets.
    "attention_with_lse": ("q", "k", "v", "mask"),
    "merge_attention_states": ("out_a", "lse_a", "out_b", "lse_b"),
    # Packed sequences of different lengths, as FlashAttention's varlen API takes them.
    "varlen_attention": ("q", "k", "v", "cu_seqlens_q", "cu_seqlens_k", "causal", "window"),
    # The newest positions of each sequence over a paged key/value cache, as vLLM serves them.
    "paged_attention": ("q", "k_pages", "v_pages", "block_table", "seq_lens", "window"),
    # Score modifiers: soft-capping, ALiBi, attention sinks (keyword-only in the contract).
    "modified_attention": ("q", "k", "v", "mask", "softcap", "alibi_slopes", "sinks"),
}

CAPABILITIES = tuple(SIGNATURES)

# The arguments of each callable passed by keyword, and only when a check chooses one; every other
# argument goes positionally.
KEYWORD_ONLY = {"softmax": ("axis",), "softmax_backward": ("axis",), "varlen_attention": ("causal", "window"),
                "paged_attention": ("window",), "modified_attention": ("softcap", "alibi_slopes", "sinks")}

# The contract's first version: what an implementation of 2017's attention provides.
V1 = (
    "softmax", "create_causal_mask", "scaled_dot_product_attention", "split_heads", "merge_heads",
    "multi_head_attention", "causal_self_attention", "positional_encoding", "embed", "decode_step",
)  # fmt: skip

# Contract v3: each backward callable, and the forward callable it differentiates.
BACKWARD = {name: name.removesuffix("_backward") for name in SIGNATURES if name.endswith("_backward")}

# The inputs each backward callable returns the gradient of, in its result's order; masks,
# positions, n_heads, n_kv_heads and axis are constants.
DIFFERENTIABLE = {
    "softmax_backward": ("x",),
    "scaled_dot_product_attention_backward": ("q", "k", "v"),
    "multi_head_attention_backward": ("x", "params"),
    "causal_self_attention_backward": ("x", "params"),
    "grouped_query_attention_backward": ("x", "params"),
    "cross_attention_backward": ("x", "context", "params"),
    "apply_rope_backward": ("x",),
}


def places(capability):
    """(the positions of the forward `capability`'s differentiable inputs in its call, the position
    of d_out in its backward's call): what an adapter needs to derive the backward from the forward."""
    backward = f"{capability}_backward"
    return [SIGNATURES[capability].index(name) for name in DIFFERENTIABLE[backward]], SIGNATURES[backward].index("d_out")


# Contract v3, serving: attention split over key sets and merged back.
SERVING = ("attention_with_lse", "merge_attention_states", "varlen_attention", "paged_attention", "modified_attention")

# Callables called as scaled_dot_product_attention is, whose calls a declaration limits alike.
AS_ATTENTION = {"attention_with_lse": "scaled_dot_product_attention", "modified_attention": "scaled_dot_product_attention"}


def forward_of(capability):
    """The forward callable whose limits (head widths, lengths, masks) a call of `capability` has."""
    forward = BACKWARD.get(capability, capability)
    return AS_ATTENTION.get(forward, forward)


# What each axis of an array argument means, from its last axis back ("..." stands for any
# leading axes): the words in which the probes say what moved (probes.py).
AXES = {
    "softmax": {"x": ("...", "entry")},
    "scaled_dot_product_attention": {
        "q": ("...", "query", "feature"),
        "k": ("...", "key", "feature"),
        "v": ("...", "key", "feature"),
        "mask": ("...", "query", "key"),
        "output": ("...", "query", "feature"),
    },
    "split_heads": {"x": ("batch row", "position", "feature"), "output": ("batch row", "head", "position", "feature")},
    "merge_heads": {"x": ("batch row", "head", "position", "feature"), "output": ("batch row", "position", "feature")},
    "multi_head_attention": {"x": ("batch row", "position", "feature"), "output": ("batch row", "position", "feature")},
    "causal_self_attention": {"x": ("batch row", "position", "feature"), "output": ("batch row", "position", "feature")},
    "grouped_query_attention": {
        "x": ("batch row", "position", "feature"),
        "output": ("batch row", "position", "feature"),
    },
    "cross_attention": {
        "x": ("batch row", "query position", "feature"),
        "context": ("batch row", "context position", "feature"),
        "output": ("batch row", "query position", "feature"),
    },
    "embed": {"tokens": ("batch row", "position"), "output": ("batch row", "position", "feature")},
    "apply_rope": {"x": ("...", "position", "feature"), "output": ("...", "position", "feature")},
}

# The dtypes the suite can draw its inputs in (--impl-dtype); bfloat16 comes from ml_dtypes.
DTYPES = ("float64", "float32", "float16", "bfloat16")
