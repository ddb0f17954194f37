"""decode_step(x_t, params, n_heads, cache=None) and decode_chunk(x_new, params, n_heads, cache=None):
a sequence fed in pieces, each call given the cache the previous one returned, must give the
full causal forward."""

import math

import numpy as np
import pytest

from attention_conformance.calls import Decoding
from attention_conformance.cases import Case, cases, kernel_head_dims
from attention_conformance.checks import check


def sequence(capability, id, seed, batch, seq, d_model, n_heads, pieces, pinned=(), style="normal"):
    params = dict(seed=seed, batch=batch, seq=seq, d_model=d_model, n_heads=n_heads, style=style)
    return Case(id, capability, params, draw="layer_inputs", pinned=pinned, pieces=tuple(pieces))


def kernel_steps(declaration):
    """Decodes of 130 steps (more than two tiles of 64), 2 rows x 8 heads."""
    return [sequence("decode_step", f"d{d}-130-steps", 54, 2, 130, 8 * d, 8, range(130), ("d_model",), "dominant")
            for d in kernel_head_dims(declaration)]


@pytest.mark.conformance("decode_step")
@cases(
    sequence("decode_step", "2-5-8-2", 50, 2, 5, 8, 2, range(5)),
    sequence("decode_step", "1-4-12-3", 50, 1, 4, 12, 3, range(4)),
    sequence("decode_step", "72-steps", 50, 2, 72, 16, 2, range(72), style="dominant"),
    kernel=kernel_steps,
)
def test_decode_step_matches_the_full_causal_forward(impl, case):
    check(impl, Decoding(case, impl.dtype), "outputs of every step vs the full causal forward")


def kernel_chunks(declaration):
    return [sequence("decode_chunk", f"d{d}-chunks-around-64", 55, 2, 257, 8 * d, 8, (0, 63, 127, 128, 192),
                     ("d_model",), "dominant")
            for d in kernel_head_dims(declaration)]


@pytest.mark.conformance("decode_chunk")
@cases(Case("two-positions", "decode_chunk", given=dict(x=np.array([[[1.0], [2.0]]]),
                                                       params={name: np.array([[1.0]]) for name in ("w_q", "w_k", "w_v", "w_o")},
                                                       n_heads=1), pieces=(0,)))
def test_decode_chunk_known_answer_for_one_chunk_of_two_positions(impl, case):
    # d_model = 1, every weight 1: q = k = v = x. Position 0 sees itself: 1. Position 1 sees keys 1 and 2
    # with scores 2 * 1 and 2 * 2: (1 e^2 + 2 e^4) / (e^2 + e^4)
    second = (math.exp(2) + 2 * math.exp(4)) / (math.exp(2) + math.exp(4))
    check(impl, Decoding(case, impl.dtype), "outputs of the chunk", expected=[[[1.0], [second]]])


@pytest.mark.conformance("decode_chunk")
@cases(
    sequence("decode_chunk", "one-chunk", 51, 2, 6, 8, 2, (0,)),
    sequence("decode_chunk", "chunks-after-a-cache", 51, 2, 12, 8, 2, (0, 4, 7)),
    sequence("decode_chunk", "one-at-a-time", 51, 1, 5, 12, 3, range(5)),
    sequence("decode_chunk", "chunks-cross-tiles", 51, 2, 100, 16, 2, (0, 37, 70, 71), style="dominant"),
    kernel=kernel_chunks,
)
def test_decode_chunk_matches_the_full_causal_forward_for_any_split(impl, case):
    check(impl, Decoding(case, impl.dtype), "outputs of every chunk vs the full causal forward")
