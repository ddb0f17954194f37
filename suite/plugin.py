"""The pytest plugin: `pytest --impl=package.module` runs the conformance suite on that module.

Registered through the `pytest11` entry point, so installing the kit is all a project needs.
"""

import os
from pathlib import Path

import pytest

from suite import implementation, known_failures
from suite.contract import CAPABILITIES
from suite.precision import TOLERANCES, parse_dtype

SUITE_DIR = Path(__file__).parent
ENV_VAR = "ATTENTION_IMPL"
INI_NAME = "attention_impl"
DEFAULT = "reference"


def pytest_addoption(parser: pytest.Parser):
    group = parser.getgroup("attention conformance")
    group.addoption(
        "--impl",
        metavar="MODULE[:ATTR]",
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
        type=parse_dtype,
        default="float64",
        help=f"dtype of the inputs the suite draws: {', '.join(TOLERANCES)} (default float64)",
    )
    group.addoption(
        "--impl-xfail",
        metavar="FILE",
        type=known_failures.read,
        help="declare known failures: one test per line, then why (suite/known_failures.py)",
    )
    parser.addini(INI_NAME, help="implementation the conformance suite runs on (see --impl)")


def chosen_name(config):
    """(name, where it came from): the command line, then the environment, then the ini file."""
    for source, name in (
        ("--impl", config.getoption("impl")),
        (f"${ENV_VAR}", os.environ.get(ENV_VAR)),
        (f"{INI_NAME} in {config.inipath}", config.getini(INI_NAME)),
    ):
        if name:
            return name, source
    return DEFAULT, "default"


def pytest_load_initial_conftests(early_config: pytest.Config, args):
    """--impl and no paths: run the conformance suite, as if its path had been typed.

    Done here, not in pytest_configure, so that pytest loads the conftests above the suite
    as initial ones, the way it does for a path on the command line.
    """
    options = early_config.known_args_namespace
    if options.impl and not options.file_or_dir:
        options.file_or_dir = [str(SUITE_DIR)]
        args.append(str(SUITE_DIR))


def pytest_configure(config: pytest.Config):
    config.addinivalue_line("markers", "conformance(capability): a check of one callable of the contract")
    config.addinivalue_line("markers", "differential: compares with the reference implementation")
    if _suite_requested(config):
        # Loaded here, before any test, so that a bad name is one usage error (also on xdist workers).
        config.pluginmanager.register(Conformance(config, _load(config)), "attention-conformance")


def _suite_requested(config):
    if config.getoption("impl"):
        return True
    for arg in config.args:
        target = arg.split("::")[0]
        if config.option.pyargs and target.split(".")[0] == SUITE_DIR.name:
            return True
        path = Path(config.invocation_params.dir, target).resolve()
        if path == SUITE_DIR or SUITE_DIR in path.parents:
            return True
    return False


def _load(config):
    name, source = chosen_name(config)
    try:
        return implementation.load(name, strict=config.getoption("impl_strict"))
    except implementation.LoadError as error:
        raise pytest.UsageError(f"attention conformance: cannot use the implementation from {source}: {error}")


class Conformance:
    """The session's implementation under test, the report header, and the per-capability summary."""

    def __init__(self, config, impl):
        self.config = config
        self.impl = impl
        self.outcomes = {}  # capability -> {nodeid: outcome}

    def pytest_report_header(self):
        name, source = chosen_name(self.config)
        strict = "on" if self.impl.strict else "off"
        provided = sum(self.impl.provides(c) for c in CAPABILITIES)
        declared = self.config.getoption("impl_xfail")
        known = f", {len(declared[1])} known failures declared in {declared[0]}" if declared else ""
        return [
            f"attention conformance: {name} ({source}) from {self.impl.file}",
            f"attention conformance: dtype {self.config.getoption('impl_dtype')}, strict {strict}, "
            f"{provided} of {len(CAPABILITIES)} callables provided{known}",
        ]

    def pytest_runtest_logreport(self, report: pytest.TestReport):
        capability = dict(report.user_properties).get("capability")
        if capability is None or (report.when != "call" and report.passed):
            return
        outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        seen = self.outcomes.setdefault(capability, {})
        if seen.get(report.nodeid) != "failed":  # a failed teardown after a passed call stays failed
            seen[report.nodeid] = outcome

    def pytest_terminal_summary(self, terminalreporter):
        if not self.outcomes:
            return
        terminalreporter.section(f"attention conformance: {self.impl.name}")
        width = max(map(len, CAPABILITIES))
        for capability in CAPABILITIES:
            terminalreporter.line(f"{capability:<{width}}  {self._status(capability)}")

    def _status(self, capability):
        if not self.impl.provides(capability):
            return "not provided" + (" (a failure under --impl-strict)" if self.impl.strict else "")
        counts = list(self.outcomes.get(capability, {}).values())
        if not counts:
            return "not run"
        failed, known = counts.count("failed"), counts.count("xfailed")
        if failed:
            return f"fails {failed} of {len(counts)} checks"
        parts = [f"{counts.count('passed')} of {len(counts)} checks passed"]
        if "skipped" in counts:
            parts.append(f"{counts.count('skipped')} skipped")
        if known:  # declared, so not a surprise, but not conformance either
            return f"fails only declared known failures ({known}; {', '.join(parts)})"
        return f"conforms ({', '.join(parts)})"


@pytest.fixture(scope="session")
def impl(pytestconfig):
    """The implementation under test (suite.implementation.Implementation)."""
    conformance = pytestconfig.pluginmanager.get_plugin("attention-conformance")
    if conformance is None:  # the suite was reached some way _suite_requested does not see
        conformance = Conformance(pytestconfig, _load(pytestconfig))
        pytestconfig.pluginmanager.register(conformance, "attention-conformance")
    return conformance.impl


@pytest.fixture(scope="session")
def dtype(pytestconfig):
    """The dtype the suite's inputs are drawn in."""
    return pytestconfig.getoption("impl_dtype")


@pytest.fixture(scope="session")
def tol(dtype):
    """The tolerance for that dtype (suite.precision)."""
    return TOLERANCES[dtype]


def pytest_collection_modifyitems(config: pytest.Config, items):
    for item in items:
        marker = item.get_closest_marker("conformance")
        if marker:
            item.user_properties.append(("capability", marker.args[0]))
    if config.getoption("impl_xfail"):
        known_failures.mark(items, config.getoption("impl_xfail"))
