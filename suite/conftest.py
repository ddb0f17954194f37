"""The suite's own fixtures and hooks: they act on the suite's tests only, never on a project's.

pytest applies a conftest.py to the tests in its folder, so nothing here reaches the tests of
a project that merely has the kit installed.
"""

from pathlib import Path

import pytest

from attention_conformance import plugin, records
from attention_conformance.isolation import kit_numerics
from attention_conformance.precision import TOLERANCES

RECORD = pytest.StashKey()  # each check's Record


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance(capability): a check of one callable of the contract")
    config.addinivalue_line("markers", "differential: compares with the kit's reference implementation")


def pytest_ignore_collect(collection_path, config):
    """The suite's tests are the test_*.py files beside this one: not the subpackages."""
    if collection_path.is_dir() and collection_path.parent == Path(__file__).parent:
        return True
    return None


@pytest.fixture(scope="session")
def impl(pytestconfig):
    """The implementation under test (attention_conformance.implementation.Implementation)."""
    return plugin.conformance(pytestconfig).impl


@pytest.fixture(scope="session")
def dtype(pytestconfig):
    """The dtype the suite's inputs are drawn in."""
    return pytestconfig.getoption("impl_dtype")


@pytest.fixture(scope="session")
def tol(dtype):
    """The tolerance for that dtype (attention_conformance.precision)."""
    return TOLERANCES[dtype]


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
