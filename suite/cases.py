"""Calls of the contract's callables: inputs drawn from a seed, and how a call is named."""

import traceback

import numpy as np
import pytest

from suite.contract import SIGNATURES


def draw(seed, dtype, *shapes):
    """Standard normal arrays of the given shapes, from one seeded generator, cast to dtype."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(dtype) for shape in shapes]


def draw_params(seed, dtype, d_model):
    """w_q, w_k, w_v, w_o, each (d_model, d_model), scaled so that scores stay of order 1."""
    weights = draw(seed, dtype, *[(d_model, d_model)] * 4)
    return {name: (w / np.sqrt(d_model)).astype(dtype) for name, w in zip(("w_q", "w_k", "w_v", "w_o"), weights)}


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


def describe(value):
    """A short description of an argument: dtype and shape for arrays, names for dicts."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}[{', '.join(map(str, value.shape))}]"
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
