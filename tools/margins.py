"""How much of the tolerance or budget correct implementations use, and how far outside it the
mutants and the kernel bugs land, in every dtype and profile: python -m tools.margins

Runs the suite (reading each run's --impl-report) and prints Markdown tables:
- correct implementations (the reference, the PyTorch adapters whose framework is installed, the
  tiled kernels of tests/kernels) x dtype x profile: the largest share of what is allowed that
  any check used (1 is the limit), and that the checks of the gradients used;
- the hand-written mutants x dtype (default profile), and the tiled kernels' bugs x dtype (the
  16-wide kernel's under the default profile, the 64-wide kernel's under the kernel profile, in
  bfloat16): the largest error of a failing check as a multiple of what is allowed,
  or "NOT KILLED".
"""

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from attention_conformance.contract import BACKWARD, DTYPES
from tools.kill_matrix import MUTANTS, OPTIONS, ROOT, mutant_names, run_suite, runs_in

KERNELS = ROOT / "tests" / "kernels"
sys.path.append(str(KERNELS))
from tiled import BUGS  # noqa: E402  (tests/kernels is not a package)

CORRECT = [("attention_conformance.reference", ROOT), ("tiled:small", KERNELS), ("tiled:wide", KERNELS)]
ADAPTERS = {"torch": ["attention_conformance.adapters.torch_attention", "attention_conformance.adapters.torch_sdpa:flash",
                     "attention_conformance.adapters.torch_sdpa:math"]}
PROFILES = ("default", "kernel")
# The 64-wide kernel's bugs run in bfloat16, a dtype kernels compute in: failing kernel-profile runs
# of this numpy kernel take minutes in the other dtypes (float64: naming mistakes at 1,000
# positions; float16: numpy's unaccelerated float16 arithmetic, called again by the probes), and
# the same bugs of the 16-wide kernel already cover every dtype.
WIDE_DTYPES = ("bfloat16",)


def used(run, of=lambda capability: True):
    """The largest share of what is allowed used by any check of a passing run (of the callables
    `of` chooses), as text."""
    if run.returncode == 5:  # pytest's "no tests collected": a dtype the implementation does not declare
        return "nothing tested"
    if run.returncode != 0:
        return f"FAILS {len(run.failed())} checks" if run.failed() else f"error (exit {run.returncode})"
    shares = [float(o.worst) for o in run.outcomes.values()
              if o.status == "passed" and o.worst is not None and of(o.capability)]
    return f"passes, {max(shares):.2f}" if shares else "nothing tested"


def used_by_gradients(run):
    """used(), over the checks of the backward callables (contract v3) alone."""
    return used(run, lambda capability: capability in BACKWARD)


def margin(run):
    """A mutant's largest error over what is allowed, over its failing checks, as text."""
    if run is None:
        return "not run"
    ratios = [float(o.worst) for o in run.failed().values() if o.worst is not None]
    if ratios:
        return "inf (NaN)" if max(ratios) == float("inf") else f"{max(ratios):.2g}x"
    return "shape/raise" if run.failed() else "NOT KILLED"


def table(title, rows, columns, cell):
    print(f"\n{title}\n\n| implementation | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cell(cells[column]) for column in columns) + " |")


def runs(jobs):
    """{key: Run} for jobs {key: (impl, cwd, options)}, two at a time, each on one thread."""
    with ThreadPoolExecutor(2) as pool:
        done = pool.map(lambda job: run_suite(job[0], *job[2], *OPTIONS, cwd=job[1]), jobs.values())
        return dict(zip(jobs, done))


def main():
    # Two runs at a time on two cores: torch's and the BLAS's thread pools, two threads each, would
    # make four busy threads contend for two cores (a torch kernel-profile run, 90 s alone, had
    # not ended after 7 min 39 s).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    correct = CORRECT + [(impl, ROOT) for package, impls in ADAPTERS.items() if importlib.util.find_spec(package)
                         for impl in impls]
    jobs = {(impl, f"{dtype}, {profile}"): (impl, cwd, (f"--impl-dtype={dtype}", f"--impl-profile={profile}"))
            for impl, cwd in correct for dtype in DTYPES for profile in PROFILES}
    bugs = {(f"tiled:{kernel}_bugs.{bug}", dtype): (f"tiled:{kernel}_bugs.{bug}", KERNELS,
                                                   (f"--impl-dtype={dtype}", f"--impl-profile={profile}"))
            for kernel, profile, dtypes in (("small", "default", DTYPES), ("wide", "kernel", WIDE_DTYPES))
            for bug in BUGS for dtype in dtypes}
    # The mutants as the kill matrix runs them: many in one process, each on the checks that can fail
    # on it, so their largest error is the whole suite's.
    mutants = {(impl, dtype): run for dtype in DTYPES for impl, run in runs_in(dtype, mutant_names()).items()
               if impl.startswith(MUTANTS)}
    results = {**runs({**jobs, **bugs}), **mutants}
    columns = [f"{dtype}, {profile}" for dtype in DTYPES for profile in PROFILES]
    table("Correct implementations: the largest share of the tolerance or budget a check used",
          {impl: {column: results[(impl, column)] for column in columns} for impl, _ in correct}, columns, used)
    table("Correct implementations, the gradients' checks alone (contract v3)",
          {impl: {column: results[(impl, column)] for column in columns} for impl, _ in correct}, columns,
          used_by_gradients)
    table("Hand-written mutants (default profile): how far outside, at most",
          {impl: {dtype: results[(impl, dtype)] for dtype in DTYPES} for impl, _ in mutants}, list(DTYPES), margin)
    table("Tile bugs (16-wide: default profile; 64-wide: kernel profile): how far outside, at most",
          {impl: {dtype: results.get((impl, dtype)) for dtype in DTYPES} for impl, _ in bugs}, list(DTYPES), margin)
    failing = [key for key in jobs if results[key].returncode not in (0, 5)]  # 5: nothing tested, as declared
    survivors = [key for key in (*mutants, *bugs) if not results[key].failed()
                 and not (key[0].endswith("computes_in_float32") and key[1] != "float64")]
    print(f"\ncorrect implementations failing: {failing or 'none'}; mutants and bugs surviving: {survivors or 'none'}")
    return 1 if failing or survivors else 0


if __name__ == "__main__":
    sys.exit(main())
