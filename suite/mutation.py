"""Mutation-test an implementation with the conformance suite as its tests (mutmut 3).

    python -m suite.mutation reference            # the kit's own gate: every mutant killed
    python -m suite.mutation my_attention --threshold 80
    python -m suite.mutation conformance_adapter --also my_model.py --dtype float32

The implementation's top-level package (or module file) and a copy of the suite go into a
fresh workspace with a [tool.mutmut] configuration; mutmut mutates the implementation there
and runs the suite on each mutant, so nothing in the caller's tree is touched and no stale
result is reused. Prints the counts, the score and each live mutant's diff; exits 1 when
the score is below the threshold (default 100%).
"""

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

SUITE_DIR = Path(__file__).parent
# The suite's differential checks compare with the reference: they cannot kill a mutant of it
# and would only cost time. Plugins that add nothing to the checks are left out for speed.
PYTEST_ARGS = ["-m", "not differential", "-p", "no:xdist", "-p", "no:benchmark", "-p", "no:hypothesispytest"]


def main(argv=None):
    args = _parser().parse_args(argv)
    source = _source_of(args.impl.partition(":")[0])
    with tempfile.TemporaryDirectory(prefix="attention-mutation-") as tmp:
        workspace = Path(args.workdir or Path(tmp, "workspace"))
        _prepare(
            workspace, source, [Path(path) for path in args.also], [f"--impl={args.impl}", f"--impl-dtype={args.dtype}"]
        )
        print(f"mutation testing {args.impl} ({source}) with the conformance suite, {args.max_children} children")
        seconds = _run_mutmut(workspace, args.max_children)
        statuses = _statuses(workspace)
        _report(workspace, statuses, seconds)
    return _verdict(statuses, args.threshold)


def _parser():
    parser = argparse.ArgumentParser(prog="python -m suite.mutation", description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--workdir", help="keep the workspace in this new folder instead of a temporary one")
    return parser


def _source_of(module_name):
    """The file or package folder holding the implementation's top-level module."""
    top = module_name.split(".")[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        sys.exit(f"suite.mutation: no module named {top!r} (is it on sys.path from this folder?)")
    origin = Path(spec.origin)
    source = origin.parent if spec.submodule_search_locations else origin
    if source == SUITE_DIR:
        sys.exit("suite.mutation: the implementation lives in the kit's suite package; copy it out to mutate it")
    return source


def _prepare(workspace, source, also, pytest_args):
    """The workspace: the implementation (mutated), what it imports and the suite (copied), the config."""
    if workspace.exists():
        sys.exit(f"suite.mutation: the workspace {workspace} exists already; name a new folder")
    workspace.mkdir(parents=True)
    for path in (source, *also, SUITE_DIR):
        if path.is_dir():
            shutil.copytree(path, workspace / path.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, workspace / path.name)
    names = [f"{path.name}/" if path.is_dir() else path.name for path in (source, *also, SUITE_DIR)]
    (workspace / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        f"source_paths = {_toml_list(names[:1])}\n"
        f"also_copy = {_toml_list(names[1:])}\n"  # mutmut runs the tests in its own copy: bring these too
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
        sys.exit(f"suite.mutation: mutmut run failed (exit {code}); the end of its log:\n{tail}")
    return seconds


def _mutmut(workspace, *args):
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=workspace, capture_output=True, text=True).stdout


def _statuses(workspace):
    """{mutant name: status} from `mutmut results --all true` ("    name: status" lines)."""
    lines = re.findall(r"^\s+(\S+): (.+)$", _mutmut(workspace, "results", "--all", "true"), re.MULTILINE)
    return {name: status.strip() for name, status in lines}


def _report(workspace, statuses, seconds):
    counts = Counter(statuses.values())
    total = len(statuses)
    print(
        f"  total {total}, killed {counts['killed']}, survived {counts['survived']}, "
        f"no tests {counts['no tests']}, timeout {counts['timeout']}, "
        f"other {total - sum(counts[s] for s in ('killed', 'survived', 'no tests', 'timeout'))}"
    )
    rates = re.findall(r"([\d.]+) mutations/second", (workspace / "mutmut.log").read_text())
    run_rate = f" ({rates[-1]} mutants/s while mutants ran)" if rates else ""
    print(f"  score {score(statuses):.1f}%; {seconds:.1f} s in all, {total / seconds:.1f} mutants/s{run_rate}")
    for name, status in sorted(statuses.items()):
        if status != "killed":
            print(f"\n{name}: {status}\n{_mutmut(workspace, 'show', name)}")


def score(statuses):
    """Killed mutants as a percentage of all mutants (100 when there are none)."""
    return 100.0 * sum(s == "killed" for s in statuses.values()) / len(statuses) if statuses else 100.0


def _verdict(statuses, threshold):
    if not statuses:
        print("suite.mutation: mutmut made no mutants")
        return 1
    passed = score(statuses) >= threshold
    print(f"{'PASS' if passed else 'FAIL'}: score {score(statuses):.1f}% against a threshold of {threshold:g}%")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
