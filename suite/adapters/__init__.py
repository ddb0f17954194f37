"""The contract on top of real library code, one module per framework, or per kernel: run them with
`pytest --impl=attention_conformance.adapters.torch_attention` (or `jax_attention`, or
`torch_sdpa:flash` and the other backends), or copy one as the template of your own adapter
(README, "Adopting the kit").

Each converts the suite's numpy inputs to the framework's arrays in the same dtype, calls
the library, and hands back numpy arrays.
"""
