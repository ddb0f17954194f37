"""Measure the kit on this machine: python -m tools.benchmark

Prints the machine; the suite on the reference (default profile, in one process and with -n 2,
with and without Hypothesis' pytest plugin, which imports Hypothesis at the end of every session
when installed); a failing run in float64 and bfloat16 (diagnosis, measurements and probes cost
only on failure); the kernel profile on the reference and on the 64-wide tiled kernel's tile bugs;
and the mutation gate next to mutmut on a trivial project, both in this one run; the attention-aware
operators next to mutmut on one file (`python -m tools.benchmark mutate`: that part alone). Every figure
comes from a run's --impl-report or the mutation recipe's Stryker report, none from printed text.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.kill_matrix import MUTANTS, ROOT

KERNELS = ROOT / "tests" / "kernels"
sys.path.append(str(KERNELS))  # tiled.py: the kit's own tiled kernel and its bugs

FAILING = "unscaled_scores"  # the hand-written mutant of the failing run
TRIVIAL = '''
def clamp(value, low, high):
    if value < low:
        return low
    if value > high:
        return high
    return value


def mean(values):
    return sum(values) / len(values)
'''
TRIVIAL_TESTS = '''
from trivial import clamp, mean


def test_clamp():
    assert clamp(5, 0, 3) == 3 and clamp(-1, 0, 3) == 0 and clamp(2, 0, 3) == 2 and clamp(3, 0, 3) == 3
    assert clamp(0, 0, 3) == 0


def test_mean():
    assert mean([1, 2, 6]) == 3 and mean([2]) == 2
'''


def suite(*options, impl="attention_conformance.reference", cwd=ROOT):
    """(wall seconds, its --impl-report document) of a suite run on impl, started in cwd."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", f"--impl={impl}", f"--impl-report={report}", "-q",
                        "-p", "no:randomly", "-p", "no:cacheprovider", *options], capture_output=True, cwd=cwd)
        wall = time.perf_counter() - start
        return wall, json.loads(report.read_text())


def tile_bugs(dtype):
    """The kernel profile on each tile bug of the 64-wide kernel (tests/kernels/tiled.py), whole
    runs (no -x): the diagnosis of every failing check is paid."""
    from tiled import BUGS

    runs = {bug: suite("-p", "no:hypothesispytest", "--impl-profile=kernel", f"--impl-dtype={dtype}",
                       impl=f"tiled:wide_bugs.{bug}", cwd=KERNELS) for bug in BUGS}
    slowest = max(runs, key=lambda bug: runs[bug][0])
    failures = sum(check["outcome"] == "failed" for _, document in runs.values() for check in document["checks"])
    print(f"kernel profile on the 64-wide kernel's {len(runs)} tile bugs, {dtype}: {failures} failures, "
          f"slowest {runs[slowest][0]:.2f} s wall ({slowest}), all {sum(wall for wall, _ in runs.values()):.1f} s")


def failing_label(mutant, document):
    """The failing run's label: its mistake, and how many checks failed and named it, from the report."""
    from attention_conformance.diagnosis import catalogue

    title = catalogue()[mutant].title
    failed = [check for check in document["checks"] if check["outcome"] == "failed"]
    named = sum(check.get("diagnosis") == title for check in failed)
    return f"failing run ({title}: {len(failed)} failures, {named} of them naming it)"


def gate_rate(report):
    """(mutants, seconds of `mutmut run`) of the kit's gate, from its Stryker report."""
    subprocess.run([sys.executable, "-m", "attention_conformance.mutation", "reference", "--report", str(report)],
                   cwd=ROOT, capture_output=True, check=True)
    document = json.loads(Path(report).read_text())
    return sum(len(file["mutants"]) for file in document["files"].values()), document["performance"]["mutation"] / 1000


def trivial_rate(tmp):
    """mutmut on a trivial module and its tests: the rate mutmut itself reaches on this machine."""
    project = Path(tmp, "trivial")
    (project / "tests").mkdir(parents=True)
    (project / "trivial.py").write_text(TRIVIAL)
    (project / "tests" / "test_trivial.py").write_text(TRIVIAL_TESTS)
    (project / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["trivial.py"]\n'
                                            'pytest_add_cli_args_test_selection = ["tests/"]\n')
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mutmut", "run"], cwd=project, capture_output=True, check=True)
    wall = time.perf_counter() - start
    from attention_conformance.stryker import statuses

    return len(statuses(project)), wall


def mutate_against_mutmut(tmp):
    """The attention-aware operators (attention_conformance.mutate) and mutmut (the gate's recipe) on the
    same file, tests/loop_attention.py, with the kit as the tests, two mutants at a time each:
    [(label, mutants, seconds, score)], from their Stryker reports."""
    rates = []
    for label, command in (
        ("attention_conformance.mutate", ["-m", "attention_conformance.mutate", "loop_attention.py",
                                          "--impl", "loop_attention", "-j", "2"]),
        ("mutmut (attention_conformance.mutation)", ["-m", "attention_conformance.mutation", "loop_attention",
                                                     "--max-children", "2"]),
    ):
        report = Path(tmp, f"{len(rates)}.json")
        start = time.perf_counter()
        subprocess.run([sys.executable, *command, "--report", str(report)], cwd=ROOT / "tests", capture_output=True)
        wall = time.perf_counter() - start
        mutants = [m for file in json.loads(report.read_text())["files"].values() for m in file["mutants"]]
        judged = [m for m in mutants if m["status"] in ("Killed", "Survived", "Timeout")]
        score = 100 * sum(m["status"] != "Survived" for m in judged) / len(judged)
        rates.append((label, len(mutants), wall, score))
    return rates


def mutation_speed():
    with tempfile.TemporaryDirectory() as tmp:
        for label, mutants, wall, score in mutate_against_mutmut(tmp):
            print(f"{label} on tests/loop_attention.py: {mutants} mutants in {wall:.1f} s wall, "
                  f"{mutants / wall:.2f} mutants/s, score {score:.1f}%")


def cpu():
    """The processor's model name where Linux tells it, else the architecture."""
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def line(label, wall, document):
    print(f"{label}: {wall:.2f} s wall, {document['seconds']:.2f} s in the session, {len(document['checks'])} checks")


def main():
    print(f"machine: {cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}")
    if sys.argv[1:] == ["mutate"]:  # this part alone: python -m tools.benchmark mutate
        mutation_speed()
        return
    line("suite on the reference, default profile, one process", *suite("-p", "no:hypothesispytest"))
    line("  the same with Hypothesis' pytest plugin loaded", *suite())
    line("  with -n 2", *suite("-p", "no:hypothesispytest", "-n", "2"))
    wall, failing = suite("-p", "no:hypothesispytest", impl=f"{MUTANTS}.{FAILING}")
    line(failing_label(FAILING, failing), wall, failing)
    wall, failing = suite("-p", "no:hypothesispytest", "--impl-dtype=bfloat16", impl=f"{MUTANTS}.{FAILING}")
    line(f"  the same in bfloat16 ({failing_label(FAILING, failing).partition('(')[2]}", wall, failing)
    line("kernel profile on the reference, float64", *suite("-p", "no:hypothesispytest", "--impl-profile=kernel"))
    line("kernel profile on the reference, bfloat16",
         *suite("-p", "no:hypothesispytest", "--impl-profile=kernel", "--impl-dtype=bfloat16"))
    tile_bugs("float64")
    tile_bugs("float16")
    with tempfile.TemporaryDirectory() as tmp:
        total, wall = gate_rate(Path(tmp, "report.json"))
        trivial_total, trivial_wall = trivial_rate(tmp)
    print(f"mutation gate on the reference: {total} mutants, `mutmut run` {wall:.1f} s, {total / wall:.1f} mutants/s")
    print(f"mutmut on a trivial project: {trivial_total} mutants, `mutmut run` {trivial_wall:.1f} s, "
          f"{trivial_total / trivial_wall:.1f} mutants/s; the gate runs at "
          f"{(total / wall) / (trivial_total / trivial_wall):.0%} of that rate")
    mutation_speed()


if __name__ == "__main__":
    main()
