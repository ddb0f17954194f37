"""How close an answer must be: fixed tolerances in float64 and float32, an error budget in
float16 and bfloat16 (docs/contract.md, "Dtypes and the error budget").

Low precision follows PyTorch's and FlashAttention's own tests: the answer is judged against
the error that the plain formula makes when computed in the same dtype (oracle.Formulas(dtype),
each operation rounded, sums in float32), because that error depends on the case: scores of
1000 positions lose more than scores of 3.
"""

from dataclasses import dataclass, replace

import numpy as np

# How many times the plain formula's error a low-precision answer may miss by. FlashAttention's
# tests allow 2; PyTorch's SDPA tests between 1 and about 5. Correct kernels measured here (PyTorch's
# CPU flash and math backends, online-softmax kernels with 16- and 64-wide tiles) stay within 1.03.
# The gradients (contract v3) take the same multiple below float32: PyTorch autograd through plain
# torch, the math and CPU flash backends used at most 0.66 of it here.
BUDGET_MULTIPLE = 2.0
# A float32 gradient may miss its plain error by twice as much again. Where a row's weights are
# near 0 and 1 the gradient magnifies their last bit, and which weight that bit falls on is the
# luck of each order of rounding: autograd through plain float32 code (PyTorch's math backend,
# jax.nn.dot_product_attention) missed the plain formulas' error 2.0 to 2.4 times at 129 and
# 1,000 positions (kernel profile, measured). PyTorch's own SDPA gradient tests allow 5 by default.
GRADIENT_MULTIPLE = 4.0
# Unit roundoff of each low-precision dtype: half the gap between 1 and the next number.
UNIT_ROUNDOFF = {"float16": 2.0**-11, "bfloat16": 2.0**-8}
# The floor: this many roundings (unit roundoffs) of the largest expected value, two units in the
# last place, so that where the plain formula happens to be exact a correct answer may still be
# a unit off at its largest values (PyTorch's nn.MultiheadAttention in bfloat16 is, here).
FLOOR_ROUNDINGS = 4


class Allowance:
    """What a comparison allows at each value. `plain` is what the plain formulas compute in the
    run's dtype (a tuple of answers: oracle.plain), for the allowances that need it (needs_plain)."""

    needs_plain = False

    def allowed(self, expected, plain=None):
        raise NotImplementedError

    def excess(self, got, expected, plain=None):
        """|got - expected| as a multiple of what is allowed, elementwise: above 1 fails."""
        return excess_over(got, expected, self.allowed(expected, plain))


def excess_over(got, other, allowed):
    """|got - other| as a multiple of `allowed`, elementwise. Equal values (infinities included, and
    NaN against NaN: the contract never expects NaN, but a mistake's answer may have it) give 0;
    NaN, or an infinity, against anything else gives inf."""
    with np.errstate(all="ignore"):
        ratio = np.abs(got - other) / allowed
    ratio = np.where((got == other) | (np.isnan(got) & np.isnan(other)), 0.0, ratio)
    return np.nan_to_num(ratio, nan=np.inf, posinf=np.inf)


@dataclass(frozen=True)
class Tolerance(Allowance):
    """|got - expected| <= atol + rtol * |expected|, elementwise (numpy.isclose). With a `dtype`
    (float32), BUDGET_MULTIPLE times the plain formulas' error in that dtype where that is larger:
    rotary angles at position 4,000 computed in float32, as every kernel does, miss 1e-5 by physics."""

    atol: float
    rtol: float
    dtype: str = None
    multiple: float = BUDGET_MULTIPLE  # of the plain formulas' error

    @property
    def needs_plain(self):
        return self.dtype is not None

    def __str__(self):
        plain = f" (or {self.multiple:g} x the plain {self.dtype} formula's error, where larger)" if self.dtype else ""
        return f"the tolerance {self.atol:.0e} + {self.rtol:.0e} * |expected|{plain}"

    def allowed(self, expected, plain=None):
        fixed = self.atol + self.rtol * np.abs(expected)
        return np.maximum(fixed, self.multiple * _plain_error(expected, plain))


@dataclass(frozen=True)
class Budget(Allowance):
    """Low precision: BUDGET_MULTIPLE times the largest error of the plain formulas in `dtype`
    over the compared output (the worst of their ways of rounding), at least FLOOR_ROUNDINGS
    roundings of its largest value."""

    dtype: str
    needs_plain = True

    def __str__(self):
        return (f"the budget of {BUDGET_MULTIPLE:g} x the error of the plain formula in {self.dtype} "
                f"(at least {FLOOR_ROUNDINGS} roundings of the largest expected value)")

    def allowed(self, expected, plain=None):
        finite = np.isfinite(expected)
        if not finite.any():
            return np.full(np.shape(expected), np.inf)
        floor = FLOOR_ROUNDINGS * UNIT_ROUNDOFF[self.dtype] * np.abs(expected[finite]).max()
        error = _plain_error(expected, plain)
        return np.full(np.shape(expected), max(BUDGET_MULTIPLE * error, floor, np.finfo(np.float64).tiny))


def _plain_error(expected, plain):
    """The largest |plain - expected| over the output, for the worse of the plain answers (0 without any)."""
    finite = np.isfinite(expected)
    error = 0.0
    for answer in plain or ():
        with np.errstate(all="ignore"):
            error = max(error, float(np.nan_to_num(np.abs(answer - expected)[finite], nan=0.0).max(initial=0.0)))
    return error


TOLERANCES = {
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=1e-5, rtol=1e-5, dtype="float32"),
    "float16": Budget("float16"),
    "bfloat16": Budget("bfloat16"),
}


def allowance(dtype, capability=""):
    """What a run in `dtype` allows on the answers of `capability`: its TOLERANCES entry, with
    GRADIENT_MULTIPLE for the gradients in float32."""
    if dtype == "float32" and capability.endswith("_backward"):
        return replace(TOLERANCES[dtype], multiple=GRADIENT_MULTIPLE)
    return TOLERANCES[dtype]
