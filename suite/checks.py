"""Assertions with one message format: the call, what was checked, expected vs got, the diagnosis.

Each helper hides itself from tracebacks (__tracebackhide__): the message is the report.
"""

import numpy as np
import pytest


def fail(call, what, details, diagnosis=None):
    """Fail the test with the suite's message format."""
    __tracebackhide__ = True
    lines = [f"{call}", f"  checked: {what}", *(f"  {line}" for line in details)]
    if diagnosis:
        lines.append(f"  {diagnosis}")
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
        fail(call, what, [f"got {type(value).__name__}, which is not an array of numbers ({error})"])


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
    close = np.isclose(got, expected, rtol=tol.rtol, atol=tol.atol)
    if close.all():
        return
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN, or inf against a finite value
        excess = np.nan_to_num(
            np.abs(got - expected) / (tol.atol + tol.rtol * np.abs(expected)), nan=np.inf, posinf=np.inf
        )
    excess[close] = 0.0
    worst = np.unravel_index(np.argmax(excess), excess.shape)
    details = [
        f"worst at index {tuple(map(int, worst))}: got {got[worst]:.6g}, expected {expected[worst]:.6g}, "
        f"|difference| {abs(got[worst] - expected[worst]):.3g} = {excess[worst]:.3g} times the tolerance",
        f"{np.count_nonzero(~close)} of {close.size} values outside the tolerance {tol}",
    ]
    if not np.isfinite(got[~np.isinf(expected)]).all():
        details.append("got NaN or inf where the expected value is finite")
    fail(call, what, details, _diagnose(got, look_alikes, tol))


def expect(condition, call, what, details, diagnosis=None):
    """A property holds; otherwise fail with its details and diagnosis."""
    __tracebackhide__ = True
    if not condition:
        fail(call, what, details, diagnosis)


def _diagnose(got, look_alikes, tol):
    """The mistake whose look-alike got matches, when exactly one mistake does (else none)."""
    matches = {}
    for mistake, symptom, would_compute in look_alikes() if look_alikes else ():
        alternative = np.asarray(would_compute, dtype=np.float64)
        if alternative.shape == got.shape and np.allclose(got, alternative, rtol=tol.rtol, atol=tol.atol):
            matches.setdefault(mistake, symptom)
    if len(matches) != 1:  # none, or ambiguous evidence: name nothing rather than risk the wrong one
        return None
    ((mistake, symptom),) = matches.items()
    return mistake.explain(symptom)
