import numpy as np

from attention import causal_self_attention


def test_output_has_the_input_shape():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 8))
    params = {name: rng.normal(size=(8, 8)) for name in ("w_q", "w_k", "w_v", "w_o")}
    assert causal_self_attention(x, params, 2).shape == (2, 5, 8)
