"""A call of one of the contract's callables: how it is named in messages, and how the
implementation is called, isolated from the kit (time limit, exceptions, read-only inputs)."""

import traceback

import numpy as np

from attention_conformance import records
from attention_conformance.checks import fail
from attention_conformance.contract import SIGNATURES
from attention_conformance.isolation import CallTimedOut, Inputs, deadline, user_numerics

TRACEBACK_FRAMES = 8  # of the implementation's own frames shown when it raises: where to look


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
        """The implementation's result. The check fails, saying so, if the call raises (anything
        but KeyboardInterrupt), outlives --impl-timeout, or changes its inputs."""
        __tracebackhide__ = True
        record = records.current.get()
        if record is not None:
            record.saw(self)
        result, problem, failure = self.attempt(impl)
        if problem:
            fail(self, None, problem, failure=failure)
        return result

    def attempt(self, impl):
        """(result, None, None), or (None, what went wrong in lines, its kind) when the call
        raised, outlived --impl-timeout or changed its inputs."""
        function = impl.function(self.capability)
        inputs = Inputs(SIGNATURES[self.capability], self.args)
        try:
            with user_numerics(), deadline(impl.timeout):
                result = function(*self.args, **self.kwargs)
        except KeyboardInterrupt:
            raise
        except CallTimedOut:
            return None, [f"did not return within {impl.timeout:g} s (--impl-timeout; 0 disables the limit)"], "timeout"
        except BaseException as raised:  # SystemExit too: one message, not pytest's wall of traceback
            return None, [f"raised {type(raised).__name__}: {raised}", "", _where(raised)], "raised"
        changes = inputs.changes()
        if changes:
            return None, [f"{change}: inputs are read-only" for change in changes], "changed its inputs"
        return result, None, None


def _where(error):
    """The traceback from the implementation's own frame down (the kit's frame left out)."""
    frames = "".join(
        traceback.format_exception(type(error), error, error.__traceback__.tb_next, limit=-TRACEBACK_FRAMES)
    )
    return frames.rstrip()


def describe(value):
    """A short description of an argument: dtype and shape for arrays (values too when few), names for dicts."""
    if isinstance(value, np.ndarray):
        text = f"{value.dtype}[{', '.join(map(str, value.shape))}]"
        if value.size <= 16:  # small enough to reproduce the call from the message alone
            shown = value.astype(np.float64) if value.dtype.kind == "f" else value
            text += " " + np.array2string(shown, precision=4, separator=", ").replace("\n", "")
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {describe(item)}" for key, item in value.items()) + "}"
    if value is None or isinstance(value, (int, float, str)):
        return repr(value)
    return type(value).__name__
