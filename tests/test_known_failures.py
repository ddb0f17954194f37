"""--impl-xfail: a renamed check answers to its old name, with a warning; under -W error a warning
about the file ends the run as a usage error naming the entry, never as an INTERNALERROR."""

import re
from pathlib import Path

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from attention_conformance.known_failures import RENAMED, Entry
from test_plugin import REFERENCE, SUITE, declare, run, run_subprocess, write

BROKEN_SOFTMAX = "import numpy as np\n\n\ndef softmax(x, axis=-1):\n    return np.zeros(x.shape)\n"


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def checks_of_the_suite():
    """The names of the suite's checks, from its source."""
    defined = (re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE) for path in SUITE.glob("test_*.py"))
    return {name for names in defined for name in names}


def test_every_renamed_check_exists_under_its_new_name_and_none_under_its_old():
    checks = checks_of_the_suite()
    assert set(RENAMED.values()) <= checks and not set(RENAMED) & checks


def test_the_contract_lists_every_rename():
    contract = (Path(__file__).parents[1] / "docs" / "contract.md").read_text()
    assert dict(re.findall(r"^\| `(test_\w+)` \| `(test_\w+)` \|$", contract, re.MULTILINE)) == RENAMED


@pytest.mark.parametrize("test, current", [
    ("test_sdpa_matches_the_definition", "test_sdpa_matches_the_formula"),
    ("test_sdpa_matches_the_definition[4d-heads]", "test_sdpa_matches_the_formula[4d-heads]"),
    ("test_attention.py::test_sdpa_matches_the_definition[3d]", "test_attention.py::test_sdpa_matches_the_formula[3d]"),
    ("suite/test_softmax.py::test_softmax_matches_the_definition",
     "suite/test_softmax.py::test_softmax_matches_the_formula"),
    ("test_sdpa_matches_the_definition_written_element_by_element", None),  # a check of its own, never renamed
    ("test_sdpa_matches_the_formula", None),
])
def test_an_entry_knows_the_current_name_of_the_check_it_names(test, current):
    renamed = Entry(test, "why", 1).renamed()
    assert (renamed.test if renamed else None) == current


@pytest.mark.parametrize("test, xfailed", [
    ("test_softmax_matches_the_definition", 4),
    ("test_softmax_matches_the_definition[axis0]", 1),
    ("test_softmax.py::test_softmax_matches_the_definition[axis0]", 1),
])
def test_an_old_name_still_marks_the_renamed_check_with_a_warning(pytester, suite_tests, test, xfailed):
    path = declare(pytester, "# ours", f"{test}   our softmax rounds")
    write(pytester, "broken", BROKEN_SOFTMAX)
    result = run(pytester, "--impl=broken", f"--impl-xfail={path}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(failed=suite_tests["test_softmax.py"] - xfailed, xfailed=xfailed, warnings=1)
    new = test.replace("definition", "formula")
    result.stdout.fnmatch_lines([f"*{path}:2: {test!r} is the old name of {new!r}: it still matches that check; "
                                 "write the new name to silence this warning".replace("[", "[[]")])


def test_every_old_name_matches_its_check(pytester, suite_tests):
    path = declare(pytester, *RENAMED)
    files = [str(SUITE / name) for name in ("test_softmax.py", "test_attention.py", "test_multi_head.py")]
    result = run(pytester, f"--impl={REFERENCE}", f"--impl-xfail={path}", *files)
    # the reference passes every check, so each check an old name reaches is an unexpected pass
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 4 + 6 + 7 + 3 and outcomes["warnings"] == len(RENAMED), result.stdout.str()[-3000:]


@pytest.mark.parametrize("strictness", ["-W error", "filterwarnings = error"])
@pytest.mark.parametrize("entry, warning", [
    ("test_softmax_known_answers[no-such-case]  stale", "'test_softmax_known_answers[no-such-case]' matches no test"),
    ("test_softmax_matches_the_definition",
     "'test_softmax_matches_the_definition' is the old name of 'test_softmax_matches_the_formula'"),
])
def test_a_warning_about_the_file_made_an_error_ends_in_a_usage_error(pytester, strictness, entry, warning):
    path = declare(pytester, "# ours", entry)
    ini = pytester.makeini(f"[pytest]\n{strictness}\n") if "=" in strictness else None
    options = ["-c", str(ini)] if ini else strictness.split()
    result = run_subprocess(pytester, f"--impl={REFERENCE}", f"--impl-xfail={path}", *options,
                            str(SUITE / "test_softmax.py"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {path}:2: {warning}* (a warning, made an error by -W or filterwarnings)"
                                 .replace("[", "[[]")])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
