"""Assertions with one message format: the call, what was checked, expected vs got, the diagnosis.

Each helper hides itself from tracebacks (__tracebackhide__): the message is the report. Each
also writes what it saw into the running check's record (records.py).
"""

import math

import numpy as np
import pytest

from attention_conformance import records
from attention_conformance.precision import TOLERANCES


def fail(call, what, details, diagnosis=None, failure="value"):
    """Fail the test with the suite's message format (`what` None: no "checked:" line)."""
    __tracebackhide__ = True
    lines = [f"{call}"]
    if what:
        lines.append(f"  checked: {what}")
    lines += [f"  {line}".rstrip() for detail in details for line in detail.split("\n")]
    if diagnosis:
        lines.append(f"  {diagnosis}")
    records.note(failure=failure)
    pytest.fail("\n".join(lines), pytrace=False)


def as_array(value, call, what):
    """The implementation's result as a float64 array; fails if it is not an array of numbers."""
    __tracebackhide__ = True
    try:
        array = np.asarray(value)
        if array.dtype == object:  # None, a dict, ragged lists: numpy would keep them as objects
            raise TypeError("numpy sees objects, not numbers")
        return array.astype(np.float64)
    except Exception as error:
        fail(call, what, [f"got {type(value).__name__}, which is not an array of numbers ({error})"],
             failure="not an array")


def expect_shape(got, shape, call, what, diagnose=None):
    """got.shape == shape; `diagnose(got)` may name the mistake a wrong shape points to."""
    __tracebackhide__ = True
    if got.shape != tuple(shape):
        diagnosis = diagnose(got) if diagnose else None
        fail(call, f"{what} shape", [f"expected shape {tuple(shape)}, got {got.shape}"], diagnosis)


def expect_close(got, expected, call, what, tol, look_alikes=None):
    """got matches expected within tol, shapes included (infinities must match exactly).

    `look_alikes` is a function returning (mistake, symptom, what the mistake would compute)
    triples; on a failure, the mistake got matches is named, if it is the only one.
    """
    __tracebackhide__ = True
    got = as_array(got, call, what)
    expected = np.asarray(expected, dtype=np.float64)
    expect_shape(got, expected.shape, call, what)
    excess = tol.excess(got, expected)
    worst = np.unravel_index(np.argmax(excess), excess.shape) if excess.size else ()
    ratio = float(excess[worst]) if excess.size else 0.0
    record = records.current.get()
    if record is not None:
        record.measured(ratio)
    if ratio <= 1:
        return
    outside = np.count_nonzero(excess > 1)
    digits = _digits(got[worst], expected[worst])
    details = [
        f"worst at index {tuple(map(int, worst))}: got {got[worst]:.{digits}g}, expected {expected[worst]:.{digits}g}, "
        f"|difference| {abs(got[worst] - expected[worst]):.3g} = {ratio:.3g} times the tolerance",
        f"{outside} of {excess.size} values outside the tolerance {tol}",
    ]
    if not np.isfinite(got[~np.isinf(expected)]).all():
        details.append("got NaN or inf where the expected value is finite")
    lower = _lower_precision(got, expected, tol)
    if lower:
        details.append(lower)
    fail(call, what, details, _diagnose(got, look_alikes, tol))


def expect(condition, call, what, details, diagnosis=None):
    """A property holds; otherwise fail with its details and diagnosis."""
    __tracebackhide__ = True
    if not condition:
        fail(call, what, details, diagnosis)


def _digits(got, expected):
    """Significant digits enough to show got and expected apart (6 at least, 17 at most)."""
    difference, scale = abs(got - expected), max(abs(got), abs(expected))
    if not (math.isfinite(difference) and difference > 0 and scale > 0):
        return 6
    return min(17, max(6, math.ceil(-math.log10(difference / scale)) + 2))


def _lower_precision(got, expected, tol):
    """In a float64 run, when got misses tol but meets float32's: the implementation seems to compute in float32.

    Only that step: an error at float16's level (1%) may as well be a real mistake."""
    float32 = TOLERANCES["float32"]
    if tol == TOLERANCES["float64"] and (float32.excess(got, expected) <= 1).all():
        return (f"every value is within float32's tolerance ({float32}): the implementation seems to compute in "
                "float32 or lower precision, not float64")
    return None


def _diagnose(got, look_alikes, tol):
    """The mistake whose look-alike got matches, when exactly one mistake does (else none)."""
    matches = {}
    for mistake, symptom, would_compute in look_alikes() if look_alikes else ():
        alternative = np.asarray(would_compute, dtype=np.float64)
        if alternative.shape == got.shape and (tol.excess(got, alternative) <= 1).all():
            matches.setdefault(mistake, symptom)
    if len(matches) != 1:  # none, or ambiguous evidence: name nothing rather than risk the wrong one
        return None
    ((mistake, symptom),) = matches.items()
    records.note(diagnosis=mistake.title)
    return mistake.explain(symptom)
