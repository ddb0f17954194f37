"""Mutation-test an implementation with the conformance suite as its tests (mutmut 3).

    python -m attention_conformance.mutation reference          # the kit's gate, from its checkout
    python -m attention_conformance.mutation my_attention --threshold 80
    python -m attention_conformance.mutation conformance_adapter --also my_model.py --dtype float32

The implementation's top-level package (or module file) and a copy of the suite go into a
fresh workspace with a [tool.mutmut] configuration; mutmut mutates the implementation there
and runs the suite on each mutant, so nothing in the caller's tree is touched and no stale
result is reused. Prints the counts, the score and each live mutant's diff, writes the
result as a Stryker mutation-testing report (--report) with its HTML page beside it (the same
name ending in .html: open it in a browser, offline), and exits 1 when the score is below the
threshold (default 100%).
"""

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from attention_conformance import viewer

SUITE_DIR = Path(__file__).parent
PROG = "python -m attention_conformance.mutation"
# The suite's differential checks compare with the reference: they cannot kill a mutant of it
# and would only cost time. Plugins that add nothing to the checks are left out for speed;
# importlib import mode keeps pytest from naming the suite's copy after mutmut's mutants/ folder.
PYTEST_ARGS = [
    "-m", "not differential", "--import-mode=importlib",
    "-p", "no:xdist", "-p", "no:benchmark", "-p", "no:hypothesispytest",
]  # fmt: skip


def main(argv=None):
    args = _parser().parse_args(argv)
    source = _source_of(args.impl.partition(":")[0])
    with tempfile.TemporaryDirectory(prefix="attention-mutation-") as tmp:
        workspace = Path(args.workdir or Path(tmp, "workspace"))
        options = [f"--impl={args.impl}", f"--impl-dtype={args.dtype}"]
        _prepare(workspace, source, [Path(path) for path in args.also], options)
        print(f"mutation testing {args.impl} ({source}) with the conformance suite, {args.max_children} children")
        seconds = _run_mutmut(workspace, args.max_children)
        from attention_conformance import stryker  # needs mutmut, which _run_mutmut has just used

        statuses = stryker.statuses(workspace)
        document = stryker.report(workspace)
        document["performance"] = {"setup": 0, "initialRun": 0, "mutation": round(seconds * 1000)}
        Path(args.report).write_text(json.dumps(document, indent=2) + "\n")
        viewer.write_page(document, page_path(args.report))
        _report(workspace, statuses, seconds)
        print(f"  report: {args.report} (Stryker mutation-testing-report-schema)")
        print(f"  page: {page_path(args.report)} (the report in mutation-testing-elements, offline)")
    return _verdict(statuses, args.threshold)


def _parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("impl", help="the implementation, as for --impl: package.module or package.module:attr")
    parser.add_argument("--threshold", type=float, default=100.0, help="lowest passing score, in percent (default 100)")
    parser.add_argument("--dtype", default="float64", help="the suite's --impl-dtype (default float64)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="PATH",
        help="a file or folder the implementation imports, copied beside it unmutated (repeatable)",
    )
    parser.add_argument(
        "--max-children", type=int, default=os.cpu_count() or 2, help="mutants run at once (default: cores)"
    )
    parser.add_argument(
        "--report",
        default="mutation-report.json",
        help="where to write the Stryker report (default mutation-report.json); its HTML page goes beside it, "
        "ending in .html",
    )
    parser.add_argument("--workdir", help="keep the workspace in this new folder instead of a temporary one")
    return parser


def page_path(report):
    """Where the report's HTML page goes: beside it, the same name ending in .html."""
    report = Path(report)
    # (a report itself named .html keeps its name: the page takes one more .html, not its place)
    return report.with_name(report.name + ".html") if report.suffix == ".html" else report.with_suffix(".html")


def _source_of(module_name):
    """The file or package folder holding the implementation's top-level module."""
    top = module_name.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        sys.exit(f"{PROG}: no module named {top!r} (is it on sys.path from this folder?)")
    origin = Path(spec.origin)
    source = origin.parent if spec.submodule_search_locations else origin
    if source == SUITE_DIR:
        sys.exit(f"{PROG}: the implementation lives in the kit's own package; copy it out to mutate it")
    return source


def _prepare(workspace, source, also, pytest_args):
    """The workspace: the implementation (mutated), what it imports and the suite (copied), the config."""
    if workspace.exists():
        sys.exit(f"{PROG}: the workspace {workspace} exists already; name a new folder")
    workspace.mkdir(parents=True)
    copied = {"suite": SUITE_DIR}  # the suite's copy is named suite/, whatever the kit's folder is called
    copied.update({path.name: path for path in (source, *also)})
    for name, path in copied.items():
        if path.is_dir():
            # (an installed kit's folder also holds its reference and mutants: not part of the suite)
            shutil.copytree(path, workspace / name, ignore=shutil.ignore_patterns("__pycache__", "reference", "mutants"))
        else:
            shutil.copy2(path, workspace / name)
    names = [f"{name}/" if path.is_dir() else name for name, path in copied.items()]
    (workspace / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f"source_paths = {_toml_list(names[1:2])}\n"
        f"also_copy = {_toml_list([names[0], *names[2:]])}\n"  # mutmut runs the tests in its own copy: bring these too
        'pytest_add_cli_args_test_selection = ["suite/"]\n'
        f"pytest_add_cli_args = {_toml_list([*pytest_args, *PYTEST_ARGS])}\n"
    )


def _toml_list(items):
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def _run_mutmut(workspace, max_children):
    """Run mutmut in the workspace; its progress goes to mutmut.log there. Returns the wall time."""
    start = time.perf_counter()
    with open(workspace / "mutmut.log", "w") as log:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
            cwd=workspace,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - start
    if code != 0:
        tail = (workspace / "mutmut.log").read_text()[-2000:]
        sys.exit(f"{PROG}: mutmut run failed (exit {code}); the end of its log:\n{tail}")
    return seconds


def _report(workspace, statuses, seconds):
    counts = Counter(statuses.values())
    total = len(statuses)
    print(
        f"  total {total}, killed {counts['killed']}, survived {counts['survived']}, "
        f"no tests {counts['no tests']}, timeout {counts['timeout']}, "
        f"other {total - sum(counts[s] for s in ('killed', 'survived', 'no tests', 'timeout'))}"
    )
    print(f"  score {score(statuses):.1f}%; {seconds:.1f} s in all, {total / seconds:.1f} mutants/s")
    for name, status in sorted(statuses.items()):
        if status != "killed":
            shown = subprocess.run([sys.executable, "-m", "mutmut", "show", name], cwd=workspace,
                                   capture_output=True, text=True).stdout
            print(f"\n{name}: {status}\n{shown}")


def score(statuses):
    """Killed mutants as a percentage of all mutants (100 when there are none)."""
    return 100.0 * sum(s == "killed" for s in statuses.values()) / len(statuses) if statuses else 100.0


def _verdict(statuses, threshold):
    if not statuses:
        print(f"{PROG}: mutmut made no mutants")
        return 1
    return verdict(score(statuses), threshold)


def verdict(percent, threshold):
    """Says whether a mutation score passes its threshold; the exit code (0 passes, 1 fails)."""
    passed = percent >= threshold
    print(f"{'PASS' if passed else 'FAIL'}: score {percent:.1f}% against a threshold of {threshold:g}%")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
