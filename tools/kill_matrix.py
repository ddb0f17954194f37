"""Which check kills which hand-written mutant, and what the suite names it: python -m tools.kill_matrix.

Runs the suite on each mutant (mutants/<name>.py) in each dtype, two runs at a time, reading each
run's --impl-report: the whole suite in float64, and in float32, float16 and bfloat16 the checks
that can fail on the mutant (reaching: the same failures and names as the whole suite, in a
fraction of the time). Writes docs/kill-matrix.json (which checks kill each mutant in float64, what
the suite names it in each dtype) and the diagnosis matrix into the README; prints the checks that
kill nothing.
"""

import json
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "kill-matrix.json"
README = ROOT / "README.md"
MUTANTS = "attention_conformance.mutants"
REFERENCE = "attention_conformance.reference"
OPTIONS = ("-p", "no:hypothesispytest")  # the suite's own run: Hypothesis' plugin only slows it
DTYPES = ("float64", "float32", "float16", "bfloat16")
# Mistakes that only show in float64: computing in float32 is right in a float32 run, and more
# precise than the run's own dtype in a float16 or bfloat16 one.
FLOAT64_ONLY = {"computes_in_float32"}


@dataclass(frozen=True)
class Outcome:
    """One check's result, from the --impl-report document: its outcome ("passed", "failed",
    "skipped"...), the callable it checks, how it failed (the record's "failure"), the mistake it
    named, its worst error as a multiple of the tolerance, its message."""

    status: str
    capability: str = None
    failure: str = None
    diagnosis: str = None
    worst: float = None
    message: str = ""

    @property
    def diagnoses(self):
        return {self.diagnosis} if self.diagnosis else set()

    @property
    def by_a_check(self):
        """Failed on a checked value, shape or property, not on a raise, a timeout or a crash."""
        return self.status == "failed" and self.failure == "value"


@dataclass
class Run:
    """The suite's run on one implementation: its exit code, output, outcome per test id, and the
    mistake the end-of-run summary names per callable (diagnosis.consensus), from its report."""

    impl: str
    returncode: int
    output: str
    outcomes: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def failed(self):
        return {test: outcome for test, outcome in self.outcomes.items() if outcome.status == "failed"}

    def killed(self):
        """Whether the suite failed the implementation by a failing check (not by a usage error)."""
        return self.returncode == 1 and bool(self.failed())

    def diagnoses(self):
        """The titles of the mistakes named by any failure or by the summary, sorted."""
        named = set().union(*(outcome.diagnoses for outcome in self.failed().values()))
        return sorted(named | {title for title in self.summary.values() if title})

    def as_data(self):
        """The run as JSON data (pytest-xdist workers share runs through a file)."""
        return asdict(self)

    @classmethod
    def from_data(cls, data):
        return cls(**{**data, "outcomes": {test: Outcome(**outcome) for test, outcome in data["outcomes"].items()}})


def run_suite(impl, *options, cwd=ROOT):
    """Run the conformance suite on `impl` (e.g. "attention_conformance.mutants.unscaled_scores") in a
    process of its own, reading each check's outcome from its --impl-report document.

    `options` go to pytest as they are (e.g. "--impl-dtype=float32"); `cwd` is where it runs."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        done = subprocess.run([sys.executable, "-m", "pytest", *_arguments(impl, report, options)],
                              cwd=cwd, capture_output=True, text=True)
        return _read(impl, done.returncode, done.stdout + done.stderr, report)


def run_many(impls, *options, workers=2, select=None):
    """{impl: Run}: the suite on each implementation, `workers` runs at a time, each with the same
    pytest options and, where `select` ({impl: [test ids]}) names some, only those checks.

    The runs of one worker share one Python process (tools.runner, which says why that is sound),
    sparing a start-up of Python, numpy and pytest per run; they run from the kit's root."""
    local, runners = threading.local(), []

    def run(impl):
        if not hasattr(local, "runner"):
            local.runner = _Runner()
            runners.append(local.runner)
        chosen = [f"--impl-select={test}" for test in (select or {}).get(impl, ())]
        return local.runner.run(impl, [*options, *chosen])

    try:
        with ThreadPoolExecutor(workers) as pool:
            return dict(zip(impls, pool.map(run, impls)))
    finally:
        for runner in runners:
            runner.close()


class _Runner:
    """A `python -m tools.runner` process: one run after another, a new process after a run that ended it."""

    def __init__(self):
        self.process = None

    def run(self, impl, options):
        with tempfile.TemporaryDirectory() as tmp:
            report, output = Path(tmp, "report.json"), Path(tmp, "output.txt")
            if self.process is None:
                self.process = subprocess.Popen([sys.executable, "-m", "tools.runner"], cwd=ROOT, text=True,
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            request = {"args": _arguments(impl, report, options), "output": str(output)}
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
                reply = self.process.stdout.readline()
            except BrokenPipeError:
                reply = ""
            if reply:
                returncode = json.loads(reply)["returncode"]
            else:  # the run ended the process: its exit code is the run's, as for a process of its own
                returncode, self.process = self.process.wait(), None
            return _read(impl, returncode, output.read_text() if output.exists() else "", report)

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()


def _arguments(impl, report, options):
    """pytest's arguments for the suite's run on `impl`, writing its --impl-report to `report`."""
    return [f"--impl={impl}", f"--impl-report={report}", *options, "-p", "no:randomly", "-p", "no:cacheprovider"]


def _read(impl, returncode, output, report):
    """The Run, from the run's exit code, output and --impl-report document (none if it was not written)."""
    run = Run(impl, returncode, output)
    if report.exists():
        document = json.loads(report.read_text())
        run.outcomes = dict(map(_outcome, document["checks"]))
        run.summary = {name: status["diagnosis"] for name, status in document["capabilities"].items()}
    return run


def _outcome(check):
    """(test id "module.py::name[params]", Outcome) of a check of the report."""
    path, _, test = check["id"].partition("::")
    fields = {name: check[name] for name in ("capability", "failure", "diagnosis", "worst", "message") if name in check}
    return f"{Path(path).name}::{test}", Outcome(check["outcome"], **fields)


def runs_in(dtype, names, whole=False, workers=2):
    """{impl: Run}: the suite in `dtype` on the reference, whole, then on each mutant of `names` (catalogue
    names): whole if `whole`, else on the checks that can fail on it (reaching), which kill it and name
    it as the whole suite does. A reference that does not pass leaves the mutants' runs whole."""
    from attention_conformance.diagnosis import catalogue

    options = (f"--impl-dtype={dtype}", *OPTIONS)
    reference = run_many([REFERENCE], *options)[REFERENCE]
    impls = {f"{MUTANTS}.{name}": catalogue()[name].functions for name in names}
    select = None if whole or not reference_passes(reference) else {
        impl: reaching(reference, functions) for impl, functions in impls.items()}
    return {REFERENCE: reference, **run_many(list(impls), *options, workers=workers, select=select)}


def reference_passes(run):
    """Whether the reference's run passed, every check run to an outcome and none of them failing."""
    return run.returncode == 0 and bool(run.outcomes) and not run.failed()


def reaching(reference, functions):
    """The checks to run on a mutant that changes the reference's `functions`, from the reference's
    whole, passing run in the same dtype: every check of a callable that reaches one of them
    (diagnosis.reached_by), and the first check of each other callable.

    Sound, because the checks left out cannot fail on the mutant: a check calls the callable it
    checks and no other of the implementation, and a mutant's other functions are the reference's,
    rebound to call its faulty ones (mutants.complete), so a callable that reaches none of these
    computes what the reference computes, and passes where the reference passed. The failing checks,
    and the mistakes they name, are then the whole run's. The summary weighs them against the
    callables whose every check passed (diagnosis.consensus): the first check of each callable left
    out keeps it among those, as in the whole run, so the summary names what the whole run's names.
    """
    from attention_conformance.diagnosis import reached_by

    chosen, seen = [], set()
    for test, outcome in reference.outcomes.items():
        if reached_by(outcome.capability) & functions or outcome.capability not in seen:
            chosen.append(test)
        seen.add(outcome.capability)
    return chosen


def mutant_names():
    """The hand-written mutants: the modules of mutants/ (its __init__ and mutmut's conftest.py aside)."""
    return sorted(path.stem for path in (ROOT / "mutants").glob("*.py") if path.name not in ("__init__.py", "conftest.py"))


def function_of(test):
    """The test function of a test id: parametrized cases count as one test."""
    return test.partition("::")[2].partition("[")[0]


def kill_matrix(runs):
    """The published matrix from {dtype: {mutant: Run}}: which checks kill each mutant in the whole float64
    runs, and, for each mutant in each dtype, the mistakes the suite names (None: not killed).

    {"tests", "mutants", "killed": [[test, mutant]], "dtypes", "diagnoses": {mutant: {dtype: [titles] or None}}}"""
    whole = runs["float64"]
    tests = list(dict.fromkeys(function_of(test) for run in whole.values() for test in run.outcomes))
    killed = {(function_of(test), name) for name, run in whole.items() for test in run.failed()}
    return {
        "tests": tests,
        "mutants": list(whole),
        "killed": [[test, name] for test in tests for name in whole if (test, name) in killed],
        "dtypes": list(runs),
        "diagnoses": {name: {dtype: runs[dtype][name].diagnoses() if runs[dtype][name].killed() else None
                             for dtype in runs} for name in whole},
    }


def table(matrix):
    """The diagnosis matrix as Markdown lines: one row per mutant, with the checks that kill it in float64
    and the mistakes the suite names for it in each dtype (its own alone, when the catalogue is right)."""
    from attention_conformance.diagnosis import catalogue

    mistakes, dtypes = catalogue(), matrix["dtypes"]
    lines = ["| mutant | its mistake | callables it changes | checks that kill it in float64 | "
             + " | ".join(f"named in {dtype}" for dtype in dtypes) + " |",
             "|---|---|---|---|" + "---|" * len(dtypes)]
    for name in matrix["mutants"]:
        kills = sum(pair[1] == name for pair in matrix["killed"])
        functions = ", ".join(sorted(mistakes[name].functions))
        named = " | ".join(_named(name, dtype, matrix["diagnoses"][name][dtype]) for dtype in dtypes)
        lines.append(f"| {name} | {mistakes[name].title} | {functions} | {kills} | {named} |")
    return lines


def _named(name, dtype, titles):
    """A cell of the table: the mistakes named, "nothing", or why the mutant was not killed."""
    if titles is None:
        return f"not killed: right in {dtype}" if name in FLOAT64_ONLY and dtype != "float64" else "NOT KILLED"
    return "; ".join(titles) or "nothing"


def write_readme_table(lines):
    """Put the table into the README, between its markers."""
    start, end = "<!-- diagnosis matrix: python -m tools.kill_matrix -->", "<!-- end of the diagnosis matrix -->"
    text = README.read_text()
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    README.write_text(before + start + "\n" + "\n".join(lines) + "\n" + end + after)


def main():
    names = mutant_names()
    runs = {dtype: runs_in(dtype, names, whole=dtype == "float64") for dtype in DTYPES}
    broken = [run for dtype in DTYPES for run in runs[dtype].values() if run.returncode not in (0, 1) or not run.outcomes]
    broken += [runs[dtype][REFERENCE] for dtype in DTYPES if not reference_passes(runs[dtype][REFERENCE])]
    for run in broken:
        print(f"{run.impl}: pytest exited with {run.returncode}\n{run.output}", file=sys.stderr)
    matrix = kill_matrix({dtype: {name: runs[dtype][f"{MUTANTS}.{name}"] for name in names} for dtype in DTYPES})
    lines = table(matrix)
    print("\n".join(lines))
    killed_something = {test for test, _ in matrix["killed"]}
    idle = [test for test in matrix["tests"] if test not in killed_something]
    print(f"\nchecks that kill none of the mutants in float64 ({len(idle)}):", *idle, sep="\n  ")
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(matrix, indent=2) + "\n")
    write_readme_table(lines)
    print(f"\nwritten to {OUTPUT.relative_to(ROOT)} and the README")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
