"""The pytest plugin: `pytest --impl=package.module` runs the conformance suite on that module.

Registered through the `pytest11` entry point, so installing the kit is all a project needs.
Outside the suite it changes nothing: its options and ini key exist, but fixtures, markers and
hooks that act on tests live in the suite's own conftest.py, and nothing is loaded unless the
suite runs.
"""

import argparse
import collections
import functools
import math
import os
import time
import traceback
from pathlib import Path

import pytest

# Only light modules here: the plugin loads in every pytest run of an environment that has the kit.
from attention_conformance import implementation, isolation, known_failures
from attention_conformance.contract import CAPABILITIES, DTYPES
from attention_conformance.records import Record, write_report

SUITE_DIR = Path(__file__).parent
ENV_VAR = "ATTENTION_IMPL"
INI_NAME = "attention_impl"
DEFAULT = "attention_conformance.reference"
DEFAULT_TIMEOUT = 60.0
PROFILES = ("default", "kernel")
CONFORMANCE = pytest.StashKey()  # the session's Conformance, once the suite runs


def pytest_addoption(parser: pytest.Parser):
    group = parser.getgroup("attention conformance")
    group.addoption(
        "--impl",
        metavar="MODULE[:ATTR]",
        type=_implementation_name,
        help=f"run the conformance suite on this implementation (else ${ENV_VAR}, "
        f"else the {INI_NAME} ini option, else {DEFAULT})",
    )
    group.addoption(
        "--impl-strict",
        action="store_true",
        help="fail, instead of skip, the checks of callables the implementation does not provide",
    )
    group.addoption(
        "--impl-dtype",
        type=_dtype,
        default="float64",
        help=f"dtype of the inputs the suite draws: {', '.join(DTYPES)} (default float64)",
    )
    group.addoption(
        "--impl-profile",
        choices=PROFILES,
        default="default",
        help="the cases to run: default (toy shapes and tile-crossing ones, fast), or kernel (also the shapes "
        "kernels are built and broken at: head widths 32-256, lengths around 64 and 128, 1,000 and 4,100 positions)",
    )
    group.addoption(
        "--impl-explore",
        metavar="N",
        type=_count,
        default=0,
        help="also draw N random cases per callable within the declaration, with Hypothesis (the [explore] extra), "
        "shrinking a failure to a minimal call (default 0; derandomised when $CI is set)",
    )
    group.addoption(
        "--impl-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"fail a call of the implementation (or its import) that runs longer (default {DEFAULT_TIMEOUT:g}; "
        "0 or inf: no limit)",
    )
    group.addoption(
        "--impl-xfail",
        metavar="FILE",
        type=known_failures.read,
        help="declare known failures: one test per line, then why (attention_conformance/known_failures.py)",
    )
    group.addoption(
        "--impl-select",
        metavar="NODE_ID",
        action="append",
        default=[],
        help="run only this check of the suite (repeatable); a node id as the kit prints it, "
        "e.g. 'test_attention.py::test_sdpa_matches_the_formula[3d]', also works pasted as a path",
    )
    group.addoption(
        "--impl-report",
        metavar="FILE",
        type=_report_path,
        help="write the results as JSON: implementation, settings, each callable's status, each check's record",
    )
    parser.addini(INI_NAME, help="implementation the conformance suite runs on (see --impl)")


def _implementation_name(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("the implementation's name is empty: write --impl=MODULE[:ATTR]")
    return text


def _dtype(text):
    """A dtype the suite knows, usable by numpy."""
    if text not in DTYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(DTYPES)}")
    if text == "bfloat16":
        try:
            import ml_dtypes  # noqa: F401  (teaches numpy the name "bfloat16")
        except ImportError:
            raise argparse.ArgumentTypeError("bfloat16 needs the ml_dtypes package: pip install ml_dtypes") from None
    return text


def _count(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cases (0 or more)")
    return int(text)


def _seconds(text):
    """A time limit: 0 or inf for none, else as long as a timer can hold."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (0 or more; 0 or inf: no limit)")
    if math.isinf(seconds):
        return 0.0
    if seconds > isolation.LONGEST:
        raise argparse.ArgumentTypeError(f"{text!r} seconds is longer than a timer can hold ({isolation.LONGEST:g} s "
                                         "at most); 0 or inf: no limit")
    return seconds


def _report_path(text):
    """Where --impl-report writes: a file, not a folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("the report's path is empty: write --impl-report=FILE.json")
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder: name a file in it, e.g. {Path(text, 'report.json')}")
    return text


def chosen_name(config):
    """(name, where it came from): the command line, then the environment, then the ini file."""
    if config.getoption("impl") is not None:
        return config.getoption("impl"), "--impl"
    if ENV_VAR in os.environ:
        if not os.environ[ENV_VAR].strip():
            raise pytest.UsageError(f"attention conformance: ${ENV_VAR} is set but empty: name an implementation")
        return os.environ[ENV_VAR], f"${ENV_VAR}"
    if config.getini(INI_NAME):
        return config.getini(INI_NAME), f"{INI_NAME} in {config.inipath}"
    return DEFAULT, "default"


def pytest_load_initial_conftests(early_config: pytest.Config, args):
    """--impl and no paths: run the conformance suite, as if its path had been typed.

    Done here, not in pytest_configure, so that pytest loads the suite's conftest as an
    initial one, the way it does for a path on the command line.
    """
    options = early_config.known_args_namespace
    if options.impl is not None and not options.file_or_dir:
        options.file_or_dir = [str(SUITE_DIR)]
        args.append(str(SUITE_DIR))
    if options.impl is not None:
        _select_pasted_ids(early_config, args, options)


def _select_pasted_ids(config, args, options):
    """A check's node id as the kit prints it (`test_attention.py::test_...[case]`) names a file
    of the suite: pasted back with --impl, it runs that check, unless the adopter's own folder has
    a file of that name. The suite's folder is collected, as in a whole run, so that node ids stay
    the same, and --impl-select keeps the pasted ones (an option: xdist passes it to its workers)."""
    here = config.invocation_params.dir
    pasted = [arg for arg in options.file_or_dir
              if not Path(here, arg.partition("::")[0]).exists() and (SUITE_DIR / arg.partition("::")[0]).is_file()]
    for arg in pasted:
        args.remove(arg)
        options.file_or_dir.remove(arg)
        args.append(f"--impl-select={arg}")
    if pasted and str(SUITE_DIR) not in options.file_or_dir:
        options.file_or_dir.append(str(SUITE_DIR))
        args.append(str(SUITE_DIR))


def pytest_configure(config: pytest.Config):
    if suite_requested(config):
        # Loaded here, before any test, so that a bad name is one usage error (also on xdist workers).
        conformance(config)
        if config.getoption("impl_explore"):
            try:
                import hypothesis  # noqa: F401
            except ImportError:
                raise pytest.UsageError(
                    "attention conformance: --impl-explore needs Hypothesis: pip install 'attention-conformance[explore]'"
                ) from None


def suite_requested(config):
    """Whether this run reaches the suite: --impl, or a path or --pyargs name inside it."""
    if config.getoption("impl") is not None:
        return True
    for arg in config.args:
        target = arg.split("::")[0]
        if config.option.pyargs and target.split(".")[0] == __package__:
            return True
        path = Path(config.invocation_params.dir, target).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
    return False


def conformance(config):
    """The session's Conformance, created (the implementation loaded) on first use."""
    if CONFORMANCE not in config.stash:
        name, source = chosen_name(config)
        try:
            impl = implementation.load(
                name,
                strict=config.getoption("impl_strict"),
                timeout=config.getoption("impl_timeout"),
                dtype=config.getoption("impl_dtype"),
                search=(config.invocation_params.dir, config.rootpath),
                stuck=functools.partial(_give_up, config),
            )
        except implementation.LoadError as error:
            raise pytest.UsageError(f"attention conformance: cannot use the implementation from {source}: {error}")
        except KeyboardInterrupt as interrupt:  # pytest would end the run without a word
            pytest.exit(f"attention conformance: importing {name} was interrupted (KeyboardInterrupt{_raised_at(interrupt)})",
                        returncode=pytest.ExitCode.INTERRUPTED)
        impl.stuck = functools.partial(_give_up, config)
        config.stash[CONFORMANCE] = Conformance(config, impl, source)
        config.pluginmanager.register(config.stash[CONFORMANCE], "attention-conformance")
    return config.stash[CONFORMANCE]


def _raised_at(error):
    """ raised at FILE:LINE, the innermost frame of the exception's traceback, or nothing."""
    frames = traceback.extract_tb(error.__traceback__)
    return f" raised at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _give_up(config, lines, status=pytest.ExitCode.TESTS_FAILED):
    """The watchdog's last resort (isolation.deadline): a call of the implementation will not stop,
    so the process cannot go on. Say which check, which call, and how to go on; then end it."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:  # what pytest captured of the check is lost with the process: show the terminal
        capture.suspend_global_capture(in_=True)
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" ")[0]
    if hasattr(config, "workerinput"):
        where = ["  this pytest-xdist worker ends here: the check is reported as crashed, and a new worker goes on"]
    else:
        where = [f"  to go on past it: run under pytest-xdist (-n 1 or more: the check is reported as crashed and a "
                 f"new worker goes on), or leave it out with --deselect '{current}'"] if current else []
    isolation.give_up([f"stopped in {current}:" if current else "stopped:", *lines, *where], status)


class Conformance:
    """The session's implementation under test, the report header, and what each check found."""

    def __init__(self, config, impl, source):
        self.config = config
        self.impl = impl
        self.source = source
        self.capability_of = {}  # nodeid -> capability, from the first report seen (for crashed workers)
        self.checks = {}  # nodeid -> {"capability", "outcome", "record", "message"}
        self.report = None  # where --impl-report was written, or the OSError that stopped it
        self.started = time.perf_counter()

    def pytest_report_header(self):
        from attention_conformance import reference

        option = self.config.getoption
        provided = sum(self.impl.provides(c) for c in CAPABILITIES)
        declared = option("impl_xfail")
        known = f", {len(declared[1])} known failures declared in {declared[0]}" if declared else ""
        timeout = f"{option('impl_timeout'):g} s" if option("impl_timeout") else "none"
        explore = f", {option('impl_explore')} explored cases per callable" if option("impl_explore") else ""
        return [
            f"attention conformance: {self.impl.name} ({self.source}) from {self.impl.file}",
            f"attention conformance: dtype {option('impl_dtype')}, profile {option('impl_profile')}{explore}, "
            f"strict {'on' if self.impl.strict else 'off'}, timeout per call {timeout}, "
            f"{provided} of {len(CAPABILITIES)} callables provided{known}",
            f"attention conformance: CONFORMANCE: {self.impl.declaration}",
            f"attention conformance: differential checks compare with the kit's reference, {reference.__file__}",
        ]

    def pytest_runtest_logreport(self, report: pytest.TestReport):
        record = Record.from_properties(report.user_properties)
        if record is not None:
            self.capability_of.setdefault(report.nodeid, record.capability)
        capability = self.capability_of.get(report.nodeid)
        if capability is None or (report.when != "call" and report.passed):
            return
        if report.when not in ("setup", "call", "teardown"):  # xdist: the worker died during the check
            record = Record(capability, failure="crashed")
        previous = self.checks.get(report.nodeid)
        if previous and previous["outcome"] == "failed":  # a failed teardown after a passed call stays failed
            return
        outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        record.outcome = outcome
        self.checks[report.nodeid] = {"capability": capability, "outcome": outcome, "record": record,
                                      "message": _message(report)}

    def pytest_terminal_summary(self, terminalreporter):
        if not self.checks:
            return
        terminalreporter.section(f"attention conformance: {self.impl.name}")
        width = max(map(len, CAPABILITIES))
        untested = []
        for capability in CAPABILITIES:
            status = self.status(capability)
            terminalreporter.line(f"{capability:<{width}}  {status}")
            if status.startswith("not tested"):
                untested.append(capability)
        if untested:
            terminalreporter.line(f"warning: CONFORMANCE rules out every check of {', '.join(untested)}: nothing of "
                                  "it was tested", yellow=True, bold=True)
        if not self._ran():
            terminalreporter.line(f"no check ran, so nothing was tested: {self._why_nothing_ran()}. The run fails, "
                                  f"as pytest's does when it collects no test (exit code "
                                  f"{int(pytest.ExitCode.NO_TESTS_COLLECTED)}).", red=True, bold=True)
        if isinstance(self.report, OSError):
            terminalreporter.line(f"could not write the report (--impl-report) to {self.report.filename}: "
                                  f"{self.report.strerror}", red=True, bold=True)
        elif self.report is not None:
            terminalreporter.line(f"report written to {self.report}")

    def _why_nothing_ran(self):
        """Why every check was skipped, from their records: the declaration's keys, callables not provided."""
        ruled_out = collections.Counter(check["record"].ruled_out for check in self.checks.values()
                                        if check["record"].ruled_out)
        if ruled_out:
            keys = ", ".join(f"{key} ({count} checks)" for key, count in ruled_out.items())
            hint = (f"; run in a dtype it declares, e.g. --impl-dtype={self.impl.declaration.dtypes[0]}"
                    if "dtypes" in ruled_out else "")
            return (f"the implementation's CONFORMANCE ({self.impl.declaration}) rules out every check of this run "
                    f"(dtype {self.impl.dtype}), by {keys}{hint}")
        return "every check was skipped (the callables they check are not provided, or the selection left none)"

    def pytest_sessionfinish(self, session):
        if hasattr(self.config, "workerinput"):  # the controller decides and writes, not xdist workers
            return
        if self.checks and not self._ran() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED  # as pytest does when no test ran
        path = self.config.getoption("impl_report")
        if path:
            self.report = Path(self.config.invocation_params.dir, path).resolve()
            try:
                write_report(self.report, self.document())
            except OSError as error:
                self.report = error
                if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
                    session.exitstatus = pytest.ExitCode.USAGE_ERROR  # the path given cannot be written

    def _ran(self):
        """Whether any check of the suite ran to an outcome (not all of them skipped)."""
        return any(check["outcome"] in ("passed", "failed", "xfailed") for check in self.checks.values())

    def status(self, capability):
        """One callable's verdict, in words."""
        if not self.impl.provides(capability):
            return "not provided" + (" (a failure under --impl-strict)" if self.impl.strict else "")
        checks = self._checks_of(capability)
        if not checks:
            return "not run"
        outcomes = [check["outcome"] for check in checks]
        ruled_out = collections.Counter(sorted(check["record"].ruled_out for check in checks if check["record"].ruled_out))
        if sum(ruled_out.values()) == len(checks):
            keys = ", ".join(f"{key} {count}" for key, count in ruled_out.items())
            return f"not tested: CONFORMANCE rules out all {len(checks)} checks ({keys})"
        failed, known = outcomes.count("failed"), outcomes.count("xfailed")
        if failed:
            crashed = sum(check["record"].failure == "crashed" for check in checks)
            mistake = self.diagnoses().get(capability)
            return (f"fails {failed} of {len(outcomes)} checks" + (f" ({crashed} crashed the worker)" if crashed else "")
                    + (f"; every failing check fits one mistake: {mistake.title}" if mistake else ""))
        parts = [f"{outcomes.count('passed')} of {len(outcomes)} checks passed"]
        skipped = outcomes.count("skipped") - sum(ruled_out.values())
        if skipped:
            parts.append(f"{skipped} skipped")
        if ruled_out:
            parts.append(f"{sum(ruled_out.values())} ruled out by CONFORMANCE: "
                         + ", ".join(f"{key} {count}" for key, count in ruled_out.items()))
        if known:  # declared, so not a surprise, but not conformance either
            return f"fails only declared known failures ({known}; {', '.join(parts)})"
        return f"conforms ({', '.join(parts)})"

    def diagnoses(self):
        """{capability: Mistake} where the evidence of the run names one mistake (diagnosis.consensus):
        the one behind every failing check of the run, else the one behind every failing check of
        the callable (among its look-alikes, the one that another callable's checks single out)."""
        from attention_conformance import diagnosis

        failing = [check for check in self.checks.values() if check["outcome"] == "failed"]
        if not failing:
            return {}
        conforming = [c for c in CAPABILITIES if self.impl.provides(c) and self._checks_of(c)
                      and all(check["outcome"] in ("passed", "skipped") for check in self._checks_of(c))]
        everywhere = diagnosis.consensus([check["record"].candidates for check in failing], conforming)
        own = {capability: [check["record"].candidates for check in failing if check["capability"] == capability]
               for capability in {check["capability"] for check in failing}}
        # what a callable's own checks single out by look-alikes, not by a description several of them share
        alone = {capability: everywhere or diagnosis.consensus(candidates, conforming, described=False)
                 for capability, candidates in own.items()}
        named = {mistake.name for mistake in alone.values() if isinstance(mistake, diagnosis.Mistake)}
        found = {capability: everywhere or diagnosis.consensus(candidates, conforming, named)
                 for capability, candidates in own.items()}
        return {capability: mistake for capability, mistake in found.items() if mistake}

    def _checks_of(self, capability):
        return [check for check in self.checks.values() if check["capability"] == capability]

    def document(self):
        """The --impl-report document."""
        from attention_conformance import reference

        option = self.config.getoption
        diagnoses = self.diagnoses()
        return {
            "implementation": {"name": self.impl.name, "chosen_by": self.source, "file": self.impl.file},
            "settings": {"dtype": option("impl_dtype"), "profile": option("impl_profile"), "strict": self.impl.strict,
                         "timeout": option("impl_timeout"), "explore": option("impl_explore"),
                         "declaration": {k: list(v) if isinstance(v, tuple) else v
                                         for k, v in self.impl.declaration.items().items()}},
            "reference": reference.__file__,
            "seconds": round(time.perf_counter() - self.started, 3),
            "capabilities": {
                capability: {
                    "provided": self.impl.provides(capability),
                    "status": self.status(capability),
                    "outcomes": collections.Counter(check["outcome"] for check in self._checks_of(capability)),
                    "diagnosis": diagnoses[capability].title if capability in diagnoses else None,
                }
                for capability in CAPABILITIES
            },
            "checks": [
                {"id": nodeid, **{k: v for k, v in vars(check["record"]).items() if v not in (None, [], {})},
                 "message": check["message"]}
                for nodeid, check in self.checks.items()
            ],
        }


def _message(report):
    """A failure's text, or a skip's reason."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return report.longrepr[2].removeprefix("Skipped: ")
    return report.longreprtext if report.failed else ""


def pytest_collection_modifyitems(config: pytest.Config, items):
    selected = config.getoption("impl_select")
    if selected:  # the suite's folder stands for the selected checks; any other path keeps what it names
        named = [(SUITE_DIR, node_id) for node_id in selected] + [
            (Path(config.invocation_params.dir, arg.partition("::")[0]).resolve(), arg) for arg in config.args
            if Path(arg) != SUITE_DIR]
        kept = [item for item in items if any(_names(item, path, node_id) for path, node_id in named)]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept
    if config.getoption("impl_xfail"):
        known_failures.mark(items, config.getoption("impl_xfail"))


def _names(item, path, node_id):
    """Whether `node_id` (`file::function[case]`, `file` found in or as `path`) names the test, as
    pytest reads a path argument: the test itself, its file, or its function (all its cases)."""
    file, _, name = node_id.partition("::")
    if item.path not in (path, path / file):
        return False
    test = item.nodeid.partition("::")[2]
    return not name or test == name or test.startswith((name + "::", name + "["))
