"""The adopter's own tests of my_model.py, as many projects have them: the shape, and that no
position sees the ones after it. `python -m attention_conformance.mutate my_model.py --tests
"python -m pytest -q test_my_model.py"` tells which classic mistakes they let through."""

import torch

from my_model import CausalSelfAttention


def test_the_output_has_the_inputs_shape():
    torch.manual_seed(0)
    layer = CausalSelfAttention(d_model=16, n_heads=4)
    assert layer(torch.randn(2, 5, 16))[0].shape == (2, 5, 16)


def test_no_position_sees_the_ones_after_it():
    torch.manual_seed(0)
    layer = CausalSelfAttention(d_model=16, n_heads=4)
    x = torch.randn(1, 6, 16)
    changed = x.clone()
    changed[:, 3:] = torch.randn(1, 3, 16)  # change the last three positions only
    assert torch.allclose(layer(x)[0][:, :3], layer(changed)[0][:, :3])
