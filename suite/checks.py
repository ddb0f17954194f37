"""Assertions with one message format: the call, what was checked, expected vs got, what the
evidence says, and how to reproduce it.

Each helper hides itself from tracebacks (__tracebackhide__): the message is the report. Each
also writes what it saw into the running check's record (records.py).
"""

import math

import numpy as np
import pytest

from attention_conformance import records


def fail(call, what, details, evidence=(), failure="value", reproduce=None):
    """Fail the test with the suite's message format (`what` None: no "checked:" line)."""
    __tracebackhide__ = True
    lines = [f"{call}"]
    if what:
        lines.append(f"  checked: {what}")
    lines += [f"  {line}".rstrip() for detail in (*details, *evidence) for line in detail.split("\n")]
    if reproduce:
        lines += ["  reproduce:", *(f"    {line}" for line in reproduce)]
    records.note(failure=failure)
    pytest.fail("\n".join(lines), pytrace=False)


def as_array(value, call, what, reproduce=None):
    """The implementation's result as a float64 array; fails if it is not an array of real
    floating-point numbers (a complex, integer or boolean array says so)."""
    __tracebackhide__ = True
    expect_real_floats(value, call, what, reproduce)
    problem = None
    try:
        array = np.asarray(value)
        if array.dtype == object:  # None, a dict, ragged lists: numpy would keep them as objects
            problem = "numpy sees objects, not numbers"
        else:
            return array.astype(np.float64)
    except Exception as error:  # outside the handler below: no chained exception text in the message
        problem = str(error)
    fail(call, what, [f"got {type(value).__name__}, which is not an array of numbers ({problem})"],
         failure="not an array", reproduce=reproduce)


def expect_real_floats(result, call, what, reproduce=None):
    """Each array of the result (or of its tuple) holds real floating-point numbers: casting a
    complex array to float drops its imaginary part silently, and integers or booleans are no
    attention output."""
    __tracebackhide__ = True
    for part in result if isinstance(result, (tuple, list)) else (result,):
        kind = getattr(getattr(part, "dtype", None), "kind", None)
        if kind == "c":
            imaginary = float(np.abs(np.imag(part)).max()) if np.size(part) else 0.0
            fail(call, what, [f"got an array of dtype {part.dtype}, whose imaginary part reaches {imaginary:.3g}: the contract's "
                              "outputs are real floating-point arrays (is a complex number left over, from a "
                              "rotation or an FFT?)"], failure="not an array", reproduce=reproduce)
        if kind in ("b", "i", "u"):
            fail(call, what, [f"got an array of dtype {part.dtype}: the contract's outputs are floating-point arrays (a "
                              "cast to an integer type, or a comparison, where a value was meant?)"],
                 failure="not an array", reproduce=reproduce)


def returned_dtype(value):
    """The dtype the implementation returned (the output's, for a tuple), or None for non-arrays."""
    part = value[0] if isinstance(value, (tuple, list)) and value else value
    return getattr(part, "dtype", None)


def expect_shape(got, shape, call, what, evidence=(), reproduce=None):
    """got.shape == shape."""
    __tracebackhide__ = True
    if got.shape != tuple(shape):
        fail(call, f"{what} shape", [f"expected shape {tuple(shape)}, got {got.shape}"], evidence, reproduce=reproduce)


def check(impl, call, what, observe=None, expected=None, result=None):
    """What `observe` sees of the implementation's answer to `call` (`result`, when the check has
    it already) matches what it sees of the formulas' answer (or `expected`) within the run's
    tolerance or budget; a failure says what the evidence points to and how to reproduce it.
    Returns the array compared."""
    __tracebackhide__ = True
    observe = observe or (lambda result: result)
    result = call.run(impl) if result is None else result
    expect_real_floats(result, call, what, reproduce=call.snippet(impl.name))
    observed, problem = None, None
    try:
        observed = observe(result)
    except (TypeError, ValueError, IndexError, KeyError) as error:  # not the result's expected form
        problem = f"could not read the {what} from its result, a {type(result).__name__}: {error}"
    if problem:  # failed outside the handler, so that no chained exception text reaches the message
        fail(call, what, [problem], failure="not an array", reproduce=call.snippet(impl.name))
    got = as_array(observed, call, what, reproduce=call.snippet(impl.name))
    expect_answer(got, impl, call, what, observe, expected, returned=returned_dtype(result))
    return got


def expect_answer(got, impl, call, what, observe, expected=None, returned=None):
    """got (already observed) against the formulas' answer to `call` (or `expected`); `returned`:
    the dtype the implementation returned, when known."""
    __tracebackhide__ = True
    from attention_conformance import diagnosis, oracle

    expected = np.asarray(observe(call.on(oracle.EXACT)) if expected is None else expected, dtype=np.float64)
    allowance = impl.allowance_of(call.capability)
    plain = None
    if allowance.needs_plain and got.shape == expected.shape:
        plain = tuple(np.asarray(observe(call.on(formulas)), dtype=np.float64) for formulas in oracle.plain(impl.dtype, call.capability))

    def evidence():
        return diagnosis.explain(impl, call, observe, got, expected, plain)

    if got.shape != expected.shape:
        fail(call, f"{what} shape", [f"expected shape {expected.shape}, got {got.shape}"], evidence(),
             reproduce=call.snippet(impl.name))
    excess = allowance.excess(got, expected, plain)
    ratio = float(excess.max()) if excess.size else 0.0
    record = records.current.get()
    if record is not None:
        record.measured(ratio)
    if ratio <= 1:
        return
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    digits = _digits(got[worst], expected[worst])
    details = [
        f"worst at index {tuple(map(int, worst))}: got {got[worst]:.{digits}g}, expected {expected[worst]:.{digits}g}, "
        f"|difference| {abs(got[worst] - expected[worst]):.3g} = {ratio:.3g} times what is allowed there",
        f"{np.count_nonzero(excess > 1)} of {excess.size} values outside {allowance}",
    ]
    if not np.isfinite(got[~np.isinf(expected)]).all():
        details.append("got NaN or inf where the expected value is finite")
    details += [line for line in (_returned_in_lower_precision(returned, impl.dtype),
                                  _lower_precision(got, expected, impl.dtype, call, observe)) if line]
    fail(call, what, details, evidence(), reproduce=call.snippet(impl.name))


# The gap between 1 and the next number, of each float dtype an output may come back in.
EPSILON = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def _returned_in_lower_precision(returned, dtype):
    """A result returned in a float dtype of less precision than the run's inputs: say so, it is measured."""
    name = getattr(returned, "name", None)
    if name in EPSILON and EPSILON[name] > EPSILON[dtype]:
        return f"the output is {name}, less precise than the run's {dtype} inputs: the implementation computes or returns it in {name}"
    return None


def _lower_precision(got, expected, dtype, call, observe):
    """In a float64 run, when got misses the tolerance but meets float32's allowance (its tolerance,
    or twice the plain float32 formulas' error where larger: rotary angles at position 4,000 lose
    that much in float32): the implementation seems to compute in float32. Only that step: an error
    at float16's level (1%) may as well be a real mistake."""
    from attention_conformance import oracle
    from attention_conformance.precision import allowance

    if dtype != "float64":
        return None
    float32 = allowance("float32", call.capability)
    try:
        answers = tuple(np.asarray(observe(call.on(formulas)), dtype=np.float64) for formulas in oracle.plain("float32", call.capability))
    except Exception:  # an answer the observation cannot read: judge with the fixed tolerance alone
        answers = None
    if (float32.excess(got, expected, answers) <= 1).all():
        return (f"every value is within float32's allowance, {float32}: the implementation seems to compute in "
                "float32 or lower precision, not float64")
    return None


def _digits(got, expected):
    """Significant digits enough to show got and expected apart (6 at least, 17 at most)."""
    difference, scale = abs(got - expected), max(abs(got), abs(expected))
    if not (math.isfinite(difference) and difference > 0 and scale > 0):
        return 6
    return min(17, max(6, math.ceil(-math.log10(difference / scale)) + 2))
