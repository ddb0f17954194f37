"""softmax(x, axis=-1): numerically stable, -inf gets weight 0."""

import math

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw, reference_answer
from attention_conformance.checks import as_array, expect, expect_close
from attention_conformance.mistakes import SOFTMAX_WRONG_AXIS, UNSTABLE_SOFTMAX

pytestmark = pytest.mark.conformance("softmax")


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_softmax_sums_to_one_along_the_given_axis(impl, dtype, tol, axis):
    (x,) = draw(0, dtype, (2, 3, 5))
    call = Call("softmax", x, axis=axis, seed=0)
    got = as_array(call.run(impl), call, "softmax")
    expect_close(np.sum(got, axis=axis), np.ones(np.delete(x.shape, axis)), call, f"sum over axis {axis}", tol)


def test_softmax_normalises_the_last_axis_by_default(impl, dtype, tol):
    (x,) = draw(1, dtype, (3, 4))
    call = Call("softmax", x, seed=1)

    def look_alikes():
        return [(SOFTMAX_WRONG_AXIS, "normalised over axis 0", definitions.softmax(x, axis=0))]

    expect_close(
        call.run(impl), definitions.softmax(x, axis=-1), call, "softmax with the default axis", tol, look_alikes
    )


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_matches_the_definition(impl, dtype, tol, axis):
    (x,) = draw(2, dtype, (3, 4, 5))
    x = (3 * x).astype(dtype)  # logits spread over several units
    call = Call("softmax", x, axis=axis, seed=2)
    expect_close(call.run(impl), definitions.softmax(x, axis=axis), call, "softmax", tol)


def test_softmax_known_answers(impl, dtype, tol):
    x = np.array([[0.0, math.log(3)], [0.0, 0.0], [5.0, 5.0]], dtype=dtype)
    call = Call("softmax", x, axis=-1)
    # exp(0) : exp(ln 3) = 1 : 3, and equal logits share the weight equally
    expect_close(call.run(impl), [[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]], call, "softmax", tol)


def test_softmax_gives_minus_inf_weight_zero(impl, dtype, tol):
    x = np.array([[0.0, -np.inf, 0.0], [-np.inf, 1.0, -np.inf]], dtype=dtype)
    call = Call("softmax", x, axis=-1)
    expect_close(call.run(impl), [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]], call, "softmax with -inf entries", tol)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([[1000.0, 999.0, 998.0], [-1000.0, -999.0, -998.0]], id="large-logits"),
        pytest.param([[0.0, 1.0, 2.0], [-800.0, -799.0, -798.0]], id="rows-far-apart"),
    ],
)
def test_softmax_is_stable_for_large_logits_and_rows_far_apart(impl, dtype, tol, rows):
    x = np.array(rows, dtype=dtype)
    call = Call("softmax", x, axis=-1)
    got = as_array(call.run(impl), call, "softmax")
    expect(
        np.isfinite(got).all(),
        call,
        "softmax of large logits, and of rows far apart, is finite",
        [f"got {got.tolist()}"],
        UNSTABLE_SOFTMAX.explain("NaN or inf: exp overflowed, or a row underflowed to 0 / 0"),
    )
    expect_close(got, definitions.softmax(x, axis=-1), call, "softmax", tol)


@pytest.mark.differential
def test_softmax_matches_reference(impl, dtype, tol):
    (x,) = draw(3, dtype, (4, 6, 7))
    call = Call("softmax", (10 * x).astype(dtype), axis=1, seed=3)
    expect_close(call.run(impl), reference_answer(call), call, "softmax vs reference", tol)
