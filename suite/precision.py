"""The dtypes the suite can run in, and how close an answer must be in each."""

import argparse
from dataclasses import dataclass


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
    "float16": Tolerance(atol=1e-2, rtol=1e-2),
    "bfloat16": Tolerance(atol=8e-2, rtol=8e-2),
}


def parse_dtype(text):
    """The --impl-dtype option's type: a dtype name the suite knows, usable by numpy."""
    if text not in TOLERANCES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(TOLERANCES)}")
    if text == "bfloat16":
        try:
            import ml_dtypes  # noqa: F401  (teaches numpy the name "bfloat16")
        except ImportError:
            raise argparse.ArgumentTypeError("bfloat16 needs the ml_dtypes package: pip install ml_dtypes") from None
    return text
