"""Measuring what a failing backward callable computes (contract v3), from the gradient the check
compared and the expected one, with no further call:
- factor: the gradient is one constant times the expected one everywhere (a scale left out or
  applied twice, a sign flipped), said as an expression of the head width where it is one;
- summed: a gradient of the broadcast shape that, summed over the axes broadcasting stretched,
  is the expected one (a broadcast input's gradient not reduced to its shape);
- masked keys: gradient on keys the mask hides from every query, where the expected one is 0.
Each reports a finding (measure.Finding) only when what it measures holds within the run's
allowance at every value.
"""

import math

import numpy as np

from attention_conformance.measure import Finding
from attention_conformance.oracle import summed_to
from attention_conformance.precision import excess_over

# The factors a gradient can be off by that name a mistake: {name: (value of d_k, title)}.
FACTORS = {
    "sqrt(d_k)": (lambda d_k: math.sqrt(d_k), "the backward leaves out the scores' factor 1/sqrt(d_k)"),
    "1/sqrt(d_k)": (lambda d_k: 1 / math.sqrt(d_k), "the backward applies the scores' factor 1/sqrt(d_k) twice"),
    "-1": (lambda d_k: -1.0, "the gradient has its sign flipped"),
}
CLOSE = 1e-3  # how near a fitted factor must come to an expression, relatively


def findings(call, got, expected, allowed):
    """The instruments' findings for a failing gradient (`allowed`: the run's allowance at each value)."""
    if got.shape != expected.shape:
        return [finding for finding in (summed(call, got, expected, allowed),) if finding]
    return [finding for finding in (factor(call, got, expected, allowed), masked_keys(call, got, expected))
            if finding]


def factor(call, got, expected, allowed):
    """got = c * expected at every value, for one c: its expression in d_k, if it has one."""
    scale = float(np.sum(expected * expected))
    if not np.isfinite(got).all() or scale == 0:
        return None
    c = float(np.sum(got * expected)) / scale
    # c times the contract's gradient, computed in the run's dtype, rounds c times as far
    if not (excess_over(got, c * expected, max(abs(c), 1.0) * allowed) <= 1).all():
        return None
    d_k = _head_width(call)
    for name, (value, title) in FACTORS.items():
        exact = value(d_k or 1)
        if (d_k or name == "-1") and abs(c - exact) <= CLOSE * abs(exact):
            shown = f" ({name} = {exact:.4g})" if d_k and name != "-1" else ""
            return Finding("gradient factor", {"factor": c, "expression": name},
                           (f"evidence: the gradient is {c:.4g} times the expected one at every value{shown}",),
                           (title,), why=f"the gradient is {name} times the expected one")
    return Finding("gradient factor", {"factor": c},
                   (f"evidence: the gradient is {c:.4g} times the expected one at every value",))


def summed(call, got, expected, allowed):
    """got has a broadcast shape that, summed back to the expected gradient's shape, is it."""
    try:
        back = summed_to(got, expected.shape)
    except (ValueError, IndexError):  # not a shape that broadcasts to the expected one
        return None
    if not (excess_over(back, expected, allowed) <= 1).all():
        return None
    title = "the gradient of a broadcast input is not summed back to its shape"
    line = (f"evidence: the gradient has the broadcast shape {got.shape}; summed over the axes broadcasting "
            f"stretched, it is the expected gradient of shape {expected.shape}")
    return Finding("gradient shape", {"shape": list(got.shape)}, (line,), (title,), why=line.removeprefix("evidence: "))


def masked_keys(call, got, expected):
    """Gradient of keys hidden from every query (their dk, dv rows expected 0) that is not 0."""
    named = call.named() if hasattr(call, "named") else {}
    if call.capability != "scaled_dot_product_attention_backward" or named.get("mask") is None or got.ndim < 2:
        return None
    mask = np.asarray(named["mask"], dtype=np.float64)
    hidden = (mask == -np.inf).all(axis=-2)  # (..., Lk): keys no query sees
    if hidden.shape[-1] != got.shape[-2] or not hidden.any():
        return None
    rows = np.broadcast_to(hidden[..., None], np.broadcast_shapes(hidden[..., None].shape, got.shape))
    if rows.shape != got.shape or not (expected[rows] == 0).all():
        return None
    reached = int(np.count_nonzero(np.any(np.broadcast_to(got != 0, rows.shape) & rows, axis=-1)))
    if not reached:
        return None
    line = (f"evidence: {reached} rows of the gradient belong to keys the mask hides from every query and are not "
            "0 (are the weights recomputed without the mask in the backward?)")
    return Finding("masked keys", {"rows": reached}, (line,), ("gradient reaches keys the mask hides",),
                   why=f"the gradient of {reached} rows of keys no query sees is not 0", whole=False)


def _head_width(call):
    """d_k of the call: q's last axis, or d_model // n_heads for the layers (None for the others)."""
    named = call.named() if hasattr(call, "named") else {}
    if "q" in named:
        return named["q"].shape[-1]
    if "n_heads" in named and "x" in named:
        return named["x"].shape[-1] // named["n_heads"]
    return None
