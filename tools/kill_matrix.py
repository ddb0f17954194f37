"""Which check kills which hand-written mutant, and what the suite names it: python -m tools.kill_matrix.

Runs the suite once per mutant (mutants/<name>.py), two at a time, reading each run's
--impl-report; writes docs/kill-matrix.json (checks x mutants, and the mistakes named for each
mutant) and the diagnosis matrix into the README; prints the checks that kill nothing.
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
README = ROOT / "README.md"
MUTANTS = "attention_conformance.mutants"
OPTIONS = ("-p", "no:hypothesispytest")  # the suite's own run: Hypothesis' plugin only slows it


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
    """The suite's run on one implementation: its exit code, output, outcome per test id, and the
    mistake the end-of-run summary names per callable (diagnosis.consensus), from its report."""

    impl: str
    returncode: int
    output: str
    outcomes: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)

    def failed(self):
        return {test: outcome for test, outcome in self.outcomes.items() if outcome.status == "failed"}

    def diagnoses(self):
        """The titles of the mistakes named by any failure or by the summary, sorted."""
        named = set().union(*(outcome.diagnoses for outcome in self.failed().values()))
        return sorted(named | {title for title in self.summary.values() if title})


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
            document = json.loads(report.read_text())
            run.outcomes = dict(map(_outcome, document["checks"]))
            run.summary = {name: status["diagnosis"] for name, status in document["capabilities"].items()}
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
    """The diagnosis matrix as Markdown lines: one row per mutant, with the checks that kill it and the
    mistakes the suite names for it (its own alone, when the catalogue is right)."""
    from attention_conformance.diagnosis import catalogue

    mistakes = catalogue()
    lines = ["| mutant | its mistake | callables it changes | checks that kill it | named by the suite as |",
             "|---|---|---|---|---|"]
    for name in matrix["mutants"]:
        kills = sum(pair[1] == name for pair in matrix["killed"])
        named = "; ".join(matrix["diagnoses"][name]) or "nothing"
        functions = ", ".join(sorted(mistakes[name].functions))
        lines.append(f"| {name} | {mistakes[name].title} | {functions} | {kills} | {named} |")
    return lines


def write_readme_table(lines):
    """Put the table into the README, between its markers."""
    start, end = "<!-- diagnosis matrix: python -m tools.kill_matrix -->", "<!-- end of the diagnosis matrix -->"
    text = README.read_text()
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    README.write_text(before + start + "\n" + "\n".join(lines) + "\n" + end + after)


def main():
    names = mutant_names()
    runs = run_many([f"{MUTANTS}.{name}" for name in names], *OPTIONS)
    broken = [run for run in runs.values() if run.returncode not in (0, 1) or not run.outcomes]
    for run in broken:
        print(f"{run.impl}: pytest exited with {run.returncode}\n{run.output}", file=sys.stderr)
    matrix = kill_matrix(dict(zip(names, runs.values())))
    lines = table(matrix)
    print("\n".join(lines))
    killed_something = {test for test, _ in matrix["killed"]}
    idle = [test for test in matrix["tests"] if test not in killed_something]
    print(f"\nchecks that kill none of the mutants ({len(idle)}):", *idle, sep="\n  ")
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(matrix, indent=2) + "\n")
    write_readme_table(lines)
    print(f"\nwritten to {OUTPUT.relative_to(ROOT)} and the README")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
