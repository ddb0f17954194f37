"""softmax(x, axis=-1): numerically stable, -inf gets weight 0."""

import math

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check

pytestmark = pytest.mark.conformance("softmax")


def drawn(id, seed, shape, scale=1.0, **kwargs):
    return Case(id, "softmax", dict(seed=seed, shape=shape, scale=scale), draw="logits", kwargs=kwargs)


def literal(id, rows):
    return Case(id, "softmax", given=dict(x=np.array(rows, dtype=np.float64)), kwargs=dict(axis=-1))


def call(case, impl):
    return Call.of(case, impl.dtype)


@cases(*(drawn(f"axis{axis}", 0, (2, 3, 5), axis=axis) for axis in (0, 1, 2, -1)))
def test_softmax_sums_to_one_along_the_given_axis(impl, case):
    axis = case.kwargs["axis"]
    check(impl, call(case, impl), f"sum over axis {axis}", lambda result: np.sum(np.asarray(result, dtype=np.float64), axis=axis))


@cases(drawn("default-axis", 1, (3, 4)))
def test_softmax_normalises_the_last_axis_by_default(impl, case):
    check(impl, call(case, impl), "softmax with the default axis")


@cases(
    *(drawn(f"axis{axis}", 2, (3, 4, 5), scale=3.0, axis=axis) for axis in (0, 1, -1)),
    drawn("long-rows", 4, (3, 300), scale=3.0, axis=-1),
    kernel=[drawn("rows-of-4100", 5, (4, 4100), scale=3.0, axis=-1)],
)
def test_softmax_matches_the_formula(impl, case):
    check(impl, call(case, impl), "softmax")


@cases(literal("known", [[0.0, math.log(3)], [0.0, 0.0], [5.0, 5.0]]))
def test_softmax_known_answers(impl, case):
    # exp(0) : exp(ln 3) = 1 : 3, and equal logits share the weight equally
    check(impl, call(case, impl), "softmax", expected=[[0.25, 0.75], [0.5, 0.5], [0.5, 0.5]])


@cases(literal("minus-inf", [[0.0, -np.inf, 0.0], [-np.inf, 1.0, -np.inf]]))
def test_softmax_gives_minus_inf_weight_zero(impl, case):
    check(impl, call(case, impl), "softmax with -inf entries", expected=[[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])


@cases(
    literal("large-logits", [[1000.0, 999.0, 998.0], [-1000.0, -999.0, -998.0]]),
    literal("rows-far-apart", [[0.0, 1.0, 2.0], [-800.0, -799.0, -798.0]]),
)
def test_softmax_is_stable_for_large_logits_and_rows_far_apart(impl, case):
    check(impl, call(case, impl), "softmax of large logits, and of rows far apart")


@pytest.mark.differential
@cases(drawn("reference", 3, (4, 6, 7), scale=10.0, axis=1))
def test_softmax_matches_reference(impl, case):
    from attention_conformance import reference

    this = call(case, impl)
    check(impl, this, "softmax vs reference", expected=this.on(reference))
