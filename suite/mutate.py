"""Put the catalogue's classic mistakes into your own attention code, and see what catches them.

    python -m attention_conformance.mutate PATH... [--impl MODULE | --tests "COMMAND"] [-j N]
                                          [--report FILE.json] [--threshold PERCENT]

Run from your project's folder. Each PATH (a file, or a folder of them) is mutated by the
attention-aware operators (operators.py): the scale dropped, the softmax over another axis, the
mask dropped or filled with -1e9, the causal triangle's diagonal moved, a transpose removed, the
heads averaged, the cache dropped, the rotation turned backwards, positions from one, key/value
heads tiled, a projection's weights swapped. Each mutant runs, in its own process, where every
import of the file sees the mutant (switch/sitecustomize.py), your tree untouched:

  --impl MODULE     against the conformance kit (`pytest --impl=MODULE`); the default when PATH is
                    one module that defines contract callables. A killed mutant says whether the kit
                    named its mistake right; a surviving one whose every answer to the kit's calls is
                    bit for bit the original's is reported equivalent, not survived.
  --tests COMMAND   against your own test command (a shell command; killed when it fails). With
                    --impl as well, survivors are run on the kit too, to tell the equivalent ones.

Prints each mutant (status, file:line, family, the change) and the score, the killed and timed-out
mutants as a percentage of the non-equivalent ones; writes the Stryker mutation report (--report)
beside its HTML page; exits 1 when the score is below --threshold, 2 when the unmutated code fails.
"""

import argparse
import ast
import collections
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from attention_conformance import viewer
from attention_conformance.contract import CAPABILITIES
from attention_conformance.diagnosis import catalogue
from attention_conformance.mutation import page_path, verdict
from attention_conformance.operators import mutants_of
from attention_conformance.records import OPAQUE

PROG = "python -m attention_conformance.mutate"
SWITCH = Path(__file__).parent / "switch"
STATUS = {"killed": "Killed", "survived": "Survived", "equivalent": "Ignored", "timeout": "Timeout", "error": "RuntimeError"}
# pytest's exit codes that are no verdict on the code: interrupted, internal error, usage error, no tests
NO_VERDICT = {2, 3, 4, 5}


@dataclass
class Result:
    """What became of one mutant: status, the seconds it ran, and for a run of the kit, the
    mistakes the kit named (catalogue names) and what it said where it named none."""

    mutant: object
    status: str
    seconds: float
    named: list = field(default_factory=list)
    described: list = field(default_factory=list)
    killed_by: list = field(default_factory=list)  # the kit's failing checks
    kit_kills: bool = None  # for a survivor of --tests, with --impl too: whether the kit kills it

    @property
    def said(self):
        """What the kit named or described of the mutant, catalogue names first."""
        return self.named + self.described

    @property
    def naming(self):
        """'right', 'wrong', 'described' (measured, no catalogue name) or 'none', for a killed mutant."""
        if self.named:
            return "right" if set(self.named) <= set(self.mutant.mistakes) else "wrong"
        return "described" if self.described else "none"


def main(argv=None):
    args = _parser().parse_args(argv)
    impl = args.impl or (None if args.tests else _implementation_in(args.paths))
    if impl is None and not args.tests:
        sys.exit(f"{PROG}: say what runs the mutants: --impl MODULE (the kit) or --tests COMMAND (your own tests)")
    results = run(args.paths, impl, args.tests, args.dtype, args.timeout, args.jobs)
    if results is None:
        return 2
    _print(results)
    document = report(results, {name: _read(name) for name in dict.fromkeys(r.mutant.file for r in results)})
    Path(args.report).write_text(json.dumps(document, indent=2) + "\n")
    page = page_path(args.report)  # the mutmut recipe's rule: a report named .html keeps its name
    viewer.write_page(document, page)
    print(f"report: {args.report} (Stryker mutation-testing-report-schema), {page} (offline HTML)")
    return _verdict(results, args.threshold)


def run(paths, impl=None, tests=None, dtype="float64", timeout=None, jobs=2):
    """[Result] of every mutant of the files at `paths` (from the working folder), or None when the
    unmutated code fails (having said so)."""
    mutants = [mutant for path in _files(paths) for mutant in mutants_of(path.read_text(), _shown(path))]
    print(f"{len(mutants)} mutants of {', '.join(map(str, paths))} in {len(_families(mutants))} families: "
          + ", ".join(f"{family} {count}" for family, count in _families(mutants).items()))
    with tempfile.TemporaryDirectory(prefix="attention-mutate-") as folder:
        runner = Runner(impl, tests, dtype, timeout, Path(folder))
        if runner.baseline() is None:
            return None
        return runner.run_all(mutants, jobs)


def _parser():
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a Python file, or a folder of them, to mutate")
    parser.add_argument("--impl", metavar="MODULE[:ATTR]", help="run each mutant against the kit on this implementation")
    parser.add_argument("--tests", metavar="COMMAND", help="run each mutant against this shell command (fails = killed)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 2, help="mutants run at once (default: cores)")
    parser.add_argument("--report", default="mutation-report.json", help="the Stryker report (default mutation-report.json)")
    parser.add_argument("--threshold", type=float, help="exit 1 when the score (percent) is below this")
    parser.add_argument("--dtype", default="float64", help="the kit's --impl-dtype (default float64)")
    parser.add_argument("--timeout", type=float, help="seconds a mutant may run (default: 5 x the unmutated run + 10)")
    return parser


def _files(paths):
    for path in map(Path, paths):
        if not path.exists():
            sys.exit(f"{PROG}: no such file or folder: {path}")
        yield from sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts) if path.is_dir() else [path]


def _shown(path):
    """The path as the report shows it: relative to the working folder where it is inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _read(name):
    return Path(name).read_text()


def _families(mutants):
    return collections.Counter(mutant.family for mutant in mutants)


def _implementation_in(paths):
    """The module one PATH names, when it defines a contract callable (no import: its syntax tree)."""
    if len(paths) != 1 or not paths[0].endswith(".py"):
        return None
    tree = ast.parse(Path(paths[0]).read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    defined |= {target.id for node in tree.body if isinstance(node, ast.Assign) for target in ast.walk(node)
                if isinstance(target, ast.Name)}
    if not defined & set(CAPABILITIES):
        return None
    relative = Path(_shown(paths[0])).with_suffix("")
    return ".".join(relative.parts)


class Runner:
    """Runs the unmutated code, then each mutant, against the kit or the adopter's tests."""

    def __init__(self, impl, tests, dtype, timeout, folder):
        self.impl, self.tests, self.dtype, self.timeout = impl, tests, dtype, timeout
        self.folder = folder  # the mutants' sources and the kit's reports
        self.answers = None  # {check id: answers digest} of the unmutated code on the kit

    def baseline(self):
        """Runs the unmutated code; None (having said why) when it fails, as no mutant could then be judged."""
        start = time.perf_counter()
        for kind in ("tests", "kit"):
            if (kind == "tests" and not self.tests) or (kind == "kit" and not self.impl):
                continue
            code, document, log = self._run(kind, None, "baseline", timeout=None)
            if code != 0:
                print(f"{PROG}: the unmutated code fails {'the kit' if kind == 'kit' else repr(self.tests)} "
                      f"(exit {code}); fix that first. The end of its output:\n{log[-3000:]}")
                return None
            if kind == "kit":
                self.answers = _answers(document)
        seconds = time.perf_counter() - start
        self.timeout = self.timeout or 5 * seconds + 10
        print(f"the unmutated code passes ({seconds:.1f} s); each mutant may run {self.timeout:.0f} s")
        return seconds

    def run_all(self, mutants, jobs):
        done = itertools.count(1)

        def judged(mutant, number):  # a line as each ends: a run of many mutants takes minutes
            result = self.judge(mutant, number)
            print(f"  {next(done)}/{len(mutants)} {result.status} {mutant.file}:{mutant.line} {mutant.operator}", flush=True)
            return result

        with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
            return list(pool.map(judged, mutants, range(len(mutants))))

    def judge(self, mutant, number):
        """The mutant's Result: run against the tests (if any), else the kit."""
        source = self.folder / f"mutant-{number}.py"
        source.write_text(mutant.source)
        start = time.perf_counter()
        kind = "tests" if self.tests else "kit"
        code, document, _ = self._run(kind, (mutant, source), number, self.timeout)
        result = Result(mutant, _status(code), time.perf_counter() - start)
        if result.status == "survived" and self.impl:
            if kind == "tests":  # the kit's answers tell an equivalent mutant from a survivor
                code, document, _ = self._run("kit", (mutant, source), number, self.timeout)
                result.kit_kills = _status(code) == "killed"
            if code == 0 and self.answers is not None and _answers(document) == self.answers:
                result.status = "equivalent"
        if (result.status == "killed" and kind == "kit" or result.kit_kills) and document:
            result.named, result.described = _named(document)
            result.killed_by = [check["id"] for check in document["checks"] if check["outcome"] == "failed"]
        return result

    def _run(self, kind, mutant, number, timeout):
        """(exit code, the kit's --impl-report document or None, output), with the mutant switched in."""
        env = dict(os.environ)
        if mutant is not None:
            original, source = mutant
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SWITCH), env.get("PYTHONPATH")]))
            env["ATTENTION_CONFORMANCE_MUTANT_OF"] = os.path.realpath(original.file)
            env["ATTENTION_CONFORMANCE_MUTANT"] = str(source)
        report = self.folder / f"{kind}-{number}.json"
        if kind == "kit":
            command = [sys.executable, "-m", "pytest", f"--impl={self.impl}", f"--impl-dtype={self.dtype}", "-q",
                       "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly", f"--impl-report={report}"]
        else:
            command = ["/bin/sh", "-c", self.tests]
        with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its children too: a test command may start several
                process.communicate()
                return None, None, ""
        document = json.loads(report.read_text()) if report.exists() else None
        return process.returncode, document, output


def _status(code):
    if code is None:
        return "timeout"
    return "survived" if code == 0 else "error" if code in NO_VERDICT else "killed"


def _answers(document):
    """{check id: (outcome, answers digest)} of a kit run; None when there is none, or a check's
    answers cannot be compared (records.OPAQUE): then no mutant is called equivalent."""
    if not document or any(check.get("answers") == OPAQUE for check in document["checks"]):
        return None
    return {check["id"]: (check["outcome"], check.get("answers")) for check in document["checks"]}


def _named(document):
    """(catalogue names, other descriptions) of the mistakes the kit's run named, over its callables."""
    by_title = {mistake.title: name for name, mistake in catalogue().items()}
    titles = {entry["diagnosis"] for entry in document["capabilities"].values() if entry["diagnosis"]}
    return sorted(by_title[t] for t in titles if t in by_title), sorted(t for t in titles if t not in by_title)


def score(results):
    """Killed and timed-out mutants as a percentage of the non-equivalent ones (100 when there are none)."""
    judged = [r for r in results if r.status in ("killed", "survived", "timeout")]
    return 100.0 * sum(r.status != "survived" for r in judged) / len(judged) if judged else 100.0


def _print(results):
    for result in results:
        mutant = result.mutant
        naming = ""
        if result.kit_kills:
            naming = "  [the kit kills it" + (f", naming: {', '.join(result.said)}]" if result.said else "]")
        elif result.status == "killed" and result.said:
            naming = f"  [kit named: {', '.join(result.said)}: {result.naming}]"
        print(f"{result.status:>10}  {mutant.file}:{mutant.line}  {mutant.family}: {mutant.describe()}{naming}")
    counts = collections.Counter(result.status for result in results)
    print(f"{len(results)} mutants: " + ", ".join(f"{status} {counts[status]}" for status in STATUS if counts[status])
          + f"; score {score(results):.1f}% (killed and timed out, of the non-equivalent)")
    killed = [result for result in results if result.status == "killed" and result.said]
    if killed:
        namings = collections.Counter(result.naming for result in killed)
        print(f"the kit named the mistake of {namings['right']} killed mutants right, {namings['wrong']} wrong; "
              f"described {namings['described']} by measurement")


def report(results, sources, thresholds=(80, 60)):
    """The Stryker mutation-testing report (schema v2) of the results; `sources`: {file: its text}."""
    files = {name: {"language": "python", "source": text, "mutants": []} for name, text in sources.items()}
    for number, result in enumerate(results):
        mutant = result.mutant
        files[mutant.file]["mutants"].append({
            "id": str(number),
            "mutatorName": mutant.family,
            "description": mutant.operator + (f", as in: {', '.join(mutant.mistakes)}" if mutant.mistakes else ""),
            "replacement": mutant.replacement,
            "location": {"start": {"line": mutant.line, "column": mutant.column + 1},
                         "end": {"line": mutant.end_line, "column": mutant.end_column + 1}},
            "status": STATUS[result.status],
            "statusReason": _reason(result),
            "duration": round(result.seconds * 1000),
            **({"killedBy": result.killed_by} if result.killed_by else {}),
        })
    return {"schemaVersion": "2", "thresholds": {"high": thresholds[0], "low": thresholds[1]}, "files": files}


def _reason(result):
    if result.status == "equivalent":
        return "equivalent: every answer to the kit's calls is bit for bit the original's"
    if result.status == "killed" and result.said:
        return f"the kit named: {', '.join(result.said)} ({result.naming})"
    return result.status


def _verdict(results, threshold):
    return 0 if threshold is None else verdict(score(results), threshold)


if __name__ == "__main__":
    sys.exit(main())
