"""apply_rope(x, positions): rotary position embedding, half-split layout (GPT-NeoX, Llama)."""

import math

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check

pytestmark = pytest.mark.conformance("apply_rope")


def rope(id, seed, lead, seq, d, start=0):
    return Case(id, "apply_rope", dict(seed=seed, lead=lead, seq=seq, d=d, start=start), draw="rope_inputs")


@cases(Case("one-pair", "apply_rope", given=dict(x=np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
                                               positions=np.array([0, 1, 2]))))
def test_rope_known_answer_turns_each_pair_by_its_position(impl, case):
    # d = 2: one pair (x0, x1), theta_0 = 1, so position p turns it by p radians
    expected = [[1.0, 0.0], [math.cos(1), math.sin(1)], [-math.sin(2), math.cos(2)]]
    check(impl, Call.of(case, impl.dtype), "rotated features", expected=expected)


@cases(Case("two-pairs", "apply_rope", given=dict(x=np.array([[1.0, 0.0, 0.0, 1.0]]), positions=np.array([1]))))
def test_rope_pairs_feature_i_with_feature_i_plus_half(impl, case):
    # d = 4: pairs (x0, x2) and (x1, x3); theta = 1 and 10000^(-1/2) = 0.01
    expected = [[math.cos(1), -math.sin(0.01), math.sin(1), math.cos(0.01)]]
    check(impl, Call.of(case, impl.dtype), "rotated features", expected=expected)


@cases(
    rope("3d", 90, (2,), 5, 8),
    rope("4d-heads", 90, (2, 3), 4, 16),
    rope("from-position-7", 90, (2, 2), 3, 8, start=7),
    rope("long", 90, (1, 2), 130, 64),
    rope("far-positions", 90, (1,), 4, 128, start=4000),
)
def test_rope_matches_the_formula(impl, case):
    check(impl, Call.of(case, impl.dtype), "rotated features")


@cases(rope("norms", 91, (2, 2), 6, 8, start=3))
def test_rope_keeps_the_length_of_each_pair(impl, case):
    # a rotation: |(x_i, x_{i+d/2})| is the same before and after, at every position
    call = Call.of(case, impl.dtype)
    x = call.args[0].astype(np.float64)
    half = x.shape[-1] // 2

    def pair_lengths(result):
        out = np.asarray(result, dtype=np.float64)
        return np.hypot(out[..., :half], out[..., half:])

    check(impl, call, "length of each pair (x_i, x_i+d/2)", pair_lengths, expected=np.hypot(x[..., :half], x[..., half:]))


@pytest.mark.differential
@cases(rope("reference", 92, (2, 4), 5, 16, start=11))
def test_rope_matches_reference(impl, case):
    from attention_conformance import reference

    call = Call.of(case, impl.dtype)
    check(impl, call, "rotated features vs reference", expected=call.on(reference))
