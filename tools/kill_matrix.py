"""Which conformance test kills which hand-written mutant: python -m tools.kill_matrix.

Runs the suite once per mutant (mutants/<name>.py), two at a time, prints a Markdown table
tests x mutants and the tests that kill nothing, and writes docs/kill-matrix.json.
"""

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "kill-matrix.json"
MUTANTS = "attention_conformance.mutants"


@dataclass(frozen=True)
class Outcome:
    """One check's result, from the --impl-report document: its outcome ("passed", "failed",
    "skipped"...), how it failed (the record's "failure"), the mistake it named, its worst error
    as a multiple of the tolerance, its message."""

    status: str
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
    """The suite's run on one implementation: its exit code, output, and outcome per test id."""

    impl: str
    returncode: int
    output: str
    outcomes: dict = field(default_factory=dict)

    def failed(self):
        return {test: outcome for test, outcome in self.outcomes.items() if outcome.status == "failed"}

    def diagnoses(self):
        """The titles of the mistakes named by any failure, sorted."""
        return sorted(set().union(*(outcome.diagnoses for outcome in self.failed().values())))


def run_suite(impl, *options, cwd=ROOT):
    """Run the conformance suite on `impl` (e.g. "attention_conformance.mutants.unscaled_scores") in a
    subprocess, reading each check's outcome from its --impl-report document.

    `options` go to pytest as they are (e.g. "--impl-dtype=float32"); `cwd` is where it runs."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        command = [sys.executable, "-m", "pytest", f"--impl={impl}", f"--impl-report={report}", *options,
                   "-p", "no:randomly", "-p", "no:cacheprovider"]
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
        run = Run(impl, done.returncode, done.stdout + done.stderr)
        if report.exists():
            run.outcomes = dict(map(_outcome, json.loads(report.read_text())["checks"]))
    return run


def run_many(impls, *options, workers=2):
    """{impl: Run}, running `workers` suites at a time, each with the same pytest options."""
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(impls, pool.map(lambda impl: run_suite(impl, *options), impls)))


def _outcome(check):
    """(test id "module.py::name[params]", Outcome) of a check of the report."""
    test = check["id"].rpartition("/")[2]
    fields = {name: check[name] for name in ("failure", "diagnosis", "worst", "message") if name in check}
    return test, Outcome(check["outcome"], **fields)


def mutant_names():
    """The hand-written mutants: the modules of mutants/ (its __init__ and mutmut's conftest.py aside)."""
    return sorted(path.stem for path in (ROOT / "mutants").glob("*.py") if path.name not in ("__init__.py", "conftest.py"))


def function_of(test):
    """The test function of a test id: parametrized cases count as one test."""
    return test.partition("::")[2].partition("[")[0]


def kill_matrix(runs):
    """{"tests", "mutants", "killed": [[test, mutant]], "diagnoses": {mutant: [titles]}} from {mutant: Run}."""
    tests = list(dict.fromkeys(function_of(test) for run in runs.values() for test in run.outcomes))
    killed = {(function_of(test), name) for name, run in runs.items() for test in run.failed()}
    return {
        "tests": tests,
        "mutants": list(runs),
        "killed": [[test, name] for test in tests for name in runs if (test, name) in killed],
        "diagnoses": {name: run.diagnoses() for name, run in runs.items()},
    }


def table(matrix):
    """The matrix as Markdown lines: one row per test, one numbered column per mutant, then a legend."""
    killed = {tuple(pair) for pair in matrix["killed"]}
    numbers = range(1, len(matrix["mutants"]) + 1)
    lines = ["| test | " + " | ".join(map(str, numbers)) + " |", "|---|" + "---|" * len(numbers)]
    for test in matrix["tests"]:
        cells = ["X" if (test, name) in killed else " " for name in matrix["mutants"]]
        lines.append(f"| {test} | " + " | ".join(cells) + " |")
    lines.append("")
    for number, name in zip(numbers, matrix["mutants"]):
        kills = sum(pair[1] == name for pair in matrix["killed"])
        seen = "; ".join(matrix["diagnoses"][name]) or "none"
        lines.append(f"{number}. {name}: tests that kill it: {kills}; diagnosed as: {seen}")
    return lines


def main():
    names = mutant_names()
    runs = run_many([f"{MUTANTS}.{name}" for name in names])
    broken = [run for run in runs.values() if run.returncode not in (0, 1) or not run.outcomes]
    for run in broken:
        print(f"{run.impl}: pytest exited with {run.returncode}\n{run.output}", file=sys.stderr)
    matrix = kill_matrix(dict(zip(names, runs.values())))
    print("\n".join(table(matrix)))
    killed_something = {test for test, _ in matrix["killed"]}
    idle = [test for test in matrix["tests"] if test not in killed_something]
    print(f"\ntests that kill nothing ({len(idle)}):", *idle, sep="\n  ")
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(matrix, indent=2) + "\n")
    print(f"\nwritten to {OUTPUT.relative_to(ROOT)}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
