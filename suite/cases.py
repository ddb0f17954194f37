"""Calls of the contract's callables: inputs drawn from a seed, and how a call is named."""

import traceback

import numpy as np
import pytest

from suite.contract import SIGNATURES


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


class Call:
    """One call of a contract callable; its description opens every failure message about it."""

    def __init__(self, capability, *args, seed=None, **kwargs):
        self.capability = capability
        self.args = args
        self.kwargs = kwargs
        self.seed = seed

    def __str__(self):
        named = zip(SIGNATURES[self.capability], self.args)
        text = ", ".join(f"{name}={describe(value)}" for name, value in [*named, *self.kwargs.items()])
        seed = "" if self.seed is None else f", inputs drawn with seed {self.seed}"
        return f"{self.capability}({text}){seed}"

    def run(self, impl):
        """The implementation's result; the test fails, saying so, if it raises or writes to its inputs."""
        __tracebackhide__ = True
        function = impl.function(self.capability)
        before = _inputs(self)
        try:
            result, error = function(*self.args, **self.kwargs), None
        except Exception as raised:
            result, error = None, raised
        if error is not None:  # failed outside the except block, so no "during handling" chain
            # The traceback from the implementation's own frame down: where to look in its code.
            where = "".join(traceback.format_exception(type(error), error, error.__traceback__.tb_next))
            pytest.fail(f"{self}\n  raised {type(error).__name__}: {error}\n\n{where}", pytrace=False)
        for name, array in _inputs(self).items():
            if not np.array_equal(array, before[name], equal_nan=True):
                pytest.fail(f"{self}\n  changed its input {name} in place: inputs are read-only", pytrace=False)
        return result


def rely_on(impl, call, expected, tol):
    """The result of `call`, a second callable that a check of another one relies on.

    Skips, even under --impl-strict, when that callable is missing, raises or misses
    `expected`: its own checks report it, and this check could not tell which one is wrong.
    """
    if not impl.provides(call.capability):
        pytest.skip(f"{impl.name} does not provide {call.capability}, which this check relies on")
    try:
        got = np.asarray(impl.function(call.capability)(*call.args, **call.kwargs), dtype=np.float64)
        usable = got.shape == np.shape(expected) and np.allclose(got, expected, rtol=tol.rtol, atol=tol.atol)
    except Exception:
        usable = False
    if not usable:
        pytest.skip(f"{call} does not conform (its own checks say how), and this check relies on it")
    return got


def reference_answer(call):
    """The reference's result for the same call, its inputs widened to float64: the oracle of
    the checks marked differential (imported here, as only they need it)."""
    import reference

    def widened(value):
        if isinstance(value, dict):
            return {key: widened(item) for key, item in value.items()}
        return value.astype(np.float64) if isinstance(value, np.ndarray) else value

    return getattr(reference, call.capability)(*map(widened, call.args), **call.kwargs)


def describe(value):
    """A short description of an argument: dtype and shape for arrays (values too when few), names for dicts."""
    if isinstance(value, np.ndarray):
        text = f"{value.dtype}[{', '.join(map(str, value.shape))}]"
        if value.size <= 16:  # small enough to reproduce the call from the message alone
            text += " " + np.array2string(
                value.astype(np.float64) if value.dtype.kind == "f" else value, precision=4, separator=", "
            ).replace("\n", "")
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {describe(item)}" for key, item in value.items()) + "}"
    if value is None or isinstance(value, (int, float, str)):
        return repr(value)
    return type(value).__name__


def _inputs(call):
    """Copies of the call's input arrays (also inside params), by parameter name.

    The decode cache is left out: it is the implementation's own object, free to change.
    """
    arrays = {}
    for name, value in zip(SIGNATURES[call.capability], call.args):
        if isinstance(value, np.ndarray):
            arrays[name] = value.copy()
        elif isinstance(value, dict) and name != "cache":
            arrays.update({f"{name}[{key!r}]": item.copy() for key, item in value.items()})
    return arrays
