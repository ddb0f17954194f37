"""The dtypes the suite can run in, and how close an answer must be in each."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tolerance:
    """|got - expected| <= atol + rtol * |expected|, elementwise (numpy.isclose)."""

    atol: float
    rtol: float

    def __str__(self):
        return f"{self.atol:.0e} + {self.rtol:.0e} * |expected|"

    def excess(self, got, expected):
        """|got - expected| as a multiple of the tolerance, elementwise: above 1 fails. Equal
        values (infinities included) give 0; NaN, or an infinity against anything else, gives inf."""
        with np.errstate(all="ignore"):
            ratio = np.abs(got - expected) / (self.atol + self.rtol * np.abs(expected))
        ratio = np.where(got == expected, 0.0, ratio)
        return np.nan_to_num(ratio, nan=np.inf, posinf=np.inf)


# Chosen so that correct implementations written differently (einsum, loops, PyTorch) pass
# with room to spare, while every hand-written mutant stays far outside (docs/contract.md).
TOLERANCES = {
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=1e-5, rtol=1e-5),
    "float16": Tolerance(atol=1e-2, rtol=1e-2),
    "bfloat16": Tolerance(atol=8e-2, rtol=8e-2),
}
