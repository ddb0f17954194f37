"""Inputs drawn from a seed, and the answers other callables give for a check that relies on them."""

import numpy as np
import pytest



def draw(seed, dtype, *shapes, d_model=None):
    """Standard normal arrays of the given shapes, cast to dtype, all from one generator seeded
    with `seed`; with `d_model`, then the params w_q, w_k, w_v, w_o, each (d_model, d_model),
    scaled by 1/sqrt(d_model) so that scores stay of order 1."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape).astype(dtype) for shape in shapes]
    if d_model is None:
        return arrays
    names = ("w_q", "w_k", "w_v", "w_o")
    return [
        *arrays,
        {name: (rng.standard_normal((d_model, d_model)) / np.sqrt(d_model)).astype(dtype) for name in names},
    ]


def rely_on(impl, call, expected, tol):
    """The result of `call`, a second callable that a check of another one relies on.

    Skips, even under --impl-strict, when that callable is missing, raises or misses
    `expected`: its own checks report it, and this check could not tell which one is wrong.
    """
    if not impl.provides(call.capability):
        pytest.skip(f"{impl.name} does not provide {call.capability}, which this check relies on")
    result, problem, _ = call.attempt(impl)
    try:
        got = np.asarray(result, dtype=np.float64)
        usable = not problem and got.shape == np.shape(expected) and (tol.excess(got, expected) <= 1).all()
    except (TypeError, ValueError):  # not an array of numbers
        usable = False
    if not usable:
        pytest.skip(f"{call} does not conform (its own checks say how), and this check relies on it")
    return got


def reference_answer(call):
    """The reference's result for the same call, its inputs widened to float64: the oracle of
    the checks marked differential (imported here, as only they need it)."""
    from attention_conformance import reference

    def widened(value):
        if isinstance(value, dict):
            return {key: widened(item) for key, item in value.items()}
        return value.astype(np.float64) if isinstance(value, np.ndarray) else value

    return getattr(reference, call.capability)(*map(widened, call.args), **call.kwargs)
