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


# Chosen so that correct implementations written differently (einsum, loops, PyTorch) pass
# with room to spare, while every hand-written mutant stays far outside (docs/contract.md).
TOLERANCES = {
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "float32": Tolerance(atol=1e-5, rtol=1e-5),
}


def parse_dtype(text):
    """The --impl-dtype option's type: a dtype name the suite knows."""
    if text not in TOLERANCES:
        import argparse

        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(TOLERANCES)}")
    return text


def numpy_dtype(name):
    return np.dtype(name)
