"""The suite's own fixtures and hooks: they act on the suite's tests only, never on a project's.

pytest applies a conftest.py to the tests in its folder, so nothing here reaches the tests of
a project that merely has the kit installed.
"""

from pathlib import Path

import pytest

from attention_conformance import plugin, records
from attention_conformance.cases import profile_cases
from attention_conformance.isolation import kit_numerics

RECORD = pytest.StashKey()  # each check's Record
HERE = Path(__file__).parent


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance(capability): a check of one callable of the contract")
    config.addinivalue_line("markers", "differential: compares with the kit's reference implementation")


def pytest_ignore_collect(collection_path, config):
    """The suite's tests are the test_*.py files beside this one, not its subpackages; the
    explored cases only with --impl-explore."""
    if collection_path.parent == HERE:
        if collection_path.is_dir():
            return True
        if collection_path.name == "test_explore.py" and not config.getoption("impl_explore"):
            return True
    return None


@pytest.fixture(scope="session")
def impl(pytestconfig):
    """The implementation under test, with the run's settings (attention_conformance.implementation)."""
    return plugin.conformance(pytestconfig).impl


def pytest_generate_tests(metafunc):
    """A check's `case` argument takes its cases (cases.cases) for the profile, fitted to the declaration."""
    if "case" in metafunc.fixturenames and hasattr(metafunc.function, "cases"):
        impl = plugin.conformance(metafunc.config).impl
        chosen = profile_cases(metafunc.function, metafunc.config.getoption("impl_profile"), impl.declaration)
        metafunc.parametrize("case", chosen, ids=[case.id for case in chosen])


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("conformance")
        if marker:
            item.stash[RECORD] = records.Record(marker.args[0])
            # On the first report already, so that a check whose worker dies still has its capability.
            item.user_properties.append((records.PREFIX + "capability", marker.args[0]))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """The check runs under the kit's numeric state, its findings going into its record."""
    token = records.current.set(item.stash.get(RECORD, None))
    try:
        with kit_numerics():
            return (yield)
    finally:
        records.current.reset(token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Once the check's outcome is known, its record becomes test properties (--junitxml carries them)."""
    report = yield
    record = item.stash.get(RECORD, None)
    if record is not None and record.outcome == "not run" and (report.when == "call" or not report.passed):
        record.outcome = "xfailed" if hasattr(report, "wasxfail") and report.skipped else report.outcome
        item.user_properties.extend(record.properties())  # for the teardown report, which --junitxml reads
        report.user_properties.extend(record.properties())  # for this one, which made its own copy
    return report
