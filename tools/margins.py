"""How far outside the tolerance each hand-written mutant lands, in every dtype: python -m tools.margins

For each dtype the suite knows, runs the suite on the ten mutants, on the reference and on
the adapters whose framework is installed, and prints one table: for a mutant, its largest
error divided by the tolerance over the checks that failed on it (a shape or property
failure has no ratio and shows as such); for a correct implementation, whether it passed.
"""

import importlib.util
import sys

from attention_conformance.precision import TOLERANCES
from tools.kill_matrix import MUTANTS, mutant_names, run_many

ADAPTERS = {"torch": "attention_conformance.adapters.torch_attention", "jax": "attention_conformance.adapters.jax_attention"}


def margin(run):
    """A mutant's worst error over the tolerance in its failed checks, as text."""
    ratios = [float(outcome.worst) for outcome in run.failed().values() if outcome.worst is not None]
    if ratios:
        return "inf (NaN)" if max(ratios) == float("inf") else f"{max(ratios):.2g}x"
    return "shape/property" if run.failed() else "NOT KILLED"


def verdict(run):
    """A correct implementation's result, as text."""
    failed = len(run.failed())
    return "passes" if run.returncode == 0 else f"fails {failed} checks" if failed else f"error (exit {run.returncode})"


def main():
    correct = ["attention_conformance.reference"] + [impl for package, impl in ADAPTERS.items() if importlib.util.find_spec(package)]
    mutants = [f"{MUTANTS}.{name}" for name in mutant_names()]
    columns = {dtype: run_many(mutants + correct, f"--impl-dtype={dtype}") for dtype in TOLERANCES}
    print("| implementation | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for impl in mutants + correct:
        show = margin if impl in mutants else verdict
        print(f"| {impl} | " + " | ".join(show(runs[impl]) for runs in columns.values()) + " |")
    survivors = [impl for impl in mutants for runs in columns.values() if not runs[impl].failed()]
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
