"""The pytest plugin, driven through pytester: choosing the implementation, reporting, failing well."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Imported before any pytester snapshot of sys.modules: in-process runs import numpy, and once a
# snapshot's restore has dropped it, it cannot be imported a second time in one process.
import numpy  # noqa: F401
import pytest

import attention_conformance
from attention_conformance.contract import CAPABILITIES

SUITE = Path(attention_conformance.__file__).parent
REFERENCE = "attention_conformance.reference"
MISSING = [c for c in CAPABILITIES if c != "softmax"]  # what the only_softmax fixture's module lacks

OBJECTS = """
    from types import SimpleNamespace

    import numpy as np


    def stable_softmax(x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)


    class Attention:
        def softmax(self, x, axis=-1):
            return stable_softmax(x, axis)


    namespace = SimpleNamespace(softmax=stable_softmax)
    instance = Attention()
"""


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    """No implementation chosen from the outside, no other installed plugin (pytest-randomly,
    pytest-sugar... would change the output); modules written by a test are importable."""
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


@pytest.fixture
def only_softmax(pytester):
    """The name of a module providing the reference's softmax and nothing else of the contract."""
    write(pytester, "only_softmax", "from attention_conformance.reference import softmax")
    return "only_softmax"


def run(pytester, *args):
    """pytest in this process, with the kit's plugin loaded by its entry point's name. The package of
    that name is imported already here, which pytest warns about when asked to load it: not a real run's case."""
    return pytester.runpytest("-p", "attention_conformance", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def run_subprocess(pytester, *args):
    """pytest in a new process: for runs that import the reference, or start xdist workers."""
    return pytester.runpytest_subprocess("-p", "attention_conformance", *args)


def write(pytester, name, source):
    pytester.makepyfile(**{name: source})


def header(name, source, file):
    return f"attention conformance: {name} ({source}) from {file}"


def summary(name, statuses):
    """The summary section's lines: statuses maps a capability to its status (default: not provided)."""
    return [f"*= attention conformance: {name} =*"] + [f"{c} *{statuses.get(c, 'not provided')}" for c in CAPABILITIES]


def expect_only_softmax_ran(result, suite_tests, others="skipped"):
    """Softmax's tests passed; every other test had the outcome `others`."""
    softmax = suite_tests["test_softmax.py"]
    result.assert_outcomes(passed=softmax, **{others: suite_tests.total() - softmax})


def expect_usage_error(result, *lines):
    """Exit code 4 and exactly these lines on stderr: no traceback, nothing on stdout."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(list(lines), consecutive=True)
    assert len([line for line in result.stderr.lines if line.strip()]) == len(lines)
    assert not result.stdout.str().strip()


def run_broken_softmax(pytester, suite_tests, body, *args):
    """Run the softmax tests on a softmax whose body is `body`; every one of them must fail."""
    write(pytester, "broken", f"import numpy as np\n\n\ndef softmax(x, axis=-1):\n    {body}\n")
    result = run(pytester, "--impl=broken", str(SUITE / "test_softmax.py"), *args)
    result.assert_outcomes(failed=suite_tests["test_softmax.py"])
    return result


# 1. The reference, the header and the summary


def test_it_runs_the_whole_suite_on_the_reference_and_every_capability_conforms(pytester, suite_tests):
    result = run_subprocess(pytester, f"--impl={REFERENCE}")
    result.assert_outcomes(passed=suite_tests.total())
    result.stdout.fnmatch_lines(summary(REFERENCE, dict.fromkeys(CAPABILITIES, "conforms (* checks passed)")))


def test_it_reports_the_implementation_where_it_was_chosen_and_the_settings_in_the_header(pytester):
    result = run_subprocess(pytester, f"--impl={REFERENCE}", "--impl-dtype=float32", "--impl-strict", "--collect-only")
    result.stdout.fnmatch_lines(
        [
            header(REFERENCE, "--impl", "*/reference/__init__.py"),
            "attention conformance: dtype float32, profile default, strict on, timeout per call 60 s, "
            f"{len(CAPABILITIES)} of {len(CAPABILITIES)} callables provided",
            "attention conformance: CONFORMANCE: nothing declared",
            "attention conformance: differential checks compare with the kit's reference, */reference/__init__.py",
            "rootdir: *",
            "plugins: attention-conformance-*",
        ],
        consecutive=True,
    )


def test_it_draws_the_inputs_in_the_dtype_asked_for(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "raise ValueError('no')", "--impl-dtype=float32")
    result.stdout.fnmatch_lines(["softmax(x=float32*"])
    result.stdout.no_fnmatch_line("softmax(x=float64*")


def test_it_stays_out_of_test_runs_that_do_not_reach_the_suite(pytester, monkeypatch):
    monkeypatch.setenv("ATTENTION_IMPL", "no_such_module")
    pytester.makepyfile("def test_unrelated():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*attention conformance*")


PROJECT_CONFTEST = """
import pytest


@pytest.fixture
def dtype():
    return "the project's own"
"""

PROJECT_TESTS = """
import pytest


def test_own_fixture(dtype):
    assert dtype == "the project's own"


@pytest.mark.parametrize("name", ["impl", "tol"])
def test_no_fixture_of_the_kit(request, name):
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue(name)
"""


def test_it_leaves_a_projects_own_tests_and_fixtures_alone(pytester):
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(PROJECT_TESTS)
    result = run_subprocess(pytester, "-W", "error")
    result.assert_outcomes(passed=3)
    assert "warning" not in result.stdout.str().lower()
    markers = run_subprocess(pytester, "--markers")
    markers.stdout.no_fnmatch_line("*conformance(capability)*")


def test_it_rejects_an_empty_implementation_name(pytester):
    pytester.makepyfile("def test_unrelated():\n    pass\n")
    result = run(pytester, "--impl=")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --impl: the implementation's name is empty: write --impl=MODULE[[]:ATTR]"])


def test_it_rejects_an_empty_environment_variable_when_the_suite_runs(pytester, monkeypatch):
    monkeypatch.setenv("ATTENTION_IMPL", "")
    result = run(pytester, str(SUITE))
    expect_usage_error(result, "ERROR: attention conformance: $ATTENTION_IMPL is set but empty: name an implementation")


def test_plain_pytest_finds_the_module_in_the_folder_it_runs_from(tmp_path):
    # the pytest script, not python -m pytest: the folder is not on sys.path, and no PYTHONPATH helps
    (tmp_path / "beside_me.py").write_text("from attention_conformance.reference import softmax\n")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "ATTENTION_IMPL", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    pytest_script = Path(sys.executable).with_name("pytest")
    done = subprocess.run(
        [str(pytest_script), "--impl=beside_me", str(SUITE / "test_softmax.py"), "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"attention conformance: beside_me (--impl) from {tmp_path}/beside_me.py" in done.stdout


def test_the_differential_checks_use_the_kits_reference_not_a_module_named_reference(pytester, suite_tests):
    # the project's own module named reference: a correct softmax, computed in float32 on purpose.
    # Were it the oracle, the kit's reference would fail the differential check against it.
    write(pytester, "reference", "import numpy as np\nfrom attention_conformance.reference import softmax as right\n\n\n"
          "def softmax(x, axis=-1):\n    return right(x, axis).astype(np.float32)\n")
    result = run_subprocess(pytester, f"--impl={REFERENCE}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(passed=suite_tests["test_softmax.py"])
    oracle = result.stdout.str().split("differential checks compare with the kit's reference, ")[1].split("\n")[0]
    assert oracle.endswith("reference/__init__.py") and oracle != str(pytester.path / "reference.py"), oracle


def test_a_float64_run_at_float32_precision_says_so(pytester):
    write(
        pytester,
        "single",
        "import numpy as np\n\n\ndef softmax(x, axis=-1):\n"
        "    x = x.astype(np.float32)\n    e = np.exp(x - x.max(axis=axis, keepdims=True))\n"
        "    return e / e.sum(axis=axis, keepdims=True)\n",
    )
    result = run(pytester, "--impl=single", str(SUITE / "test_softmax.py"), "-k", "matches_the_formula")
    result.assert_outcomes(failed=4)
    result.stdout.fnmatch_lines(
        ["  worst at index *: got 0.*, expected 0.*, |difference| *",
         "  * values outside the tolerance 1e-10 + 1e-10 * |expected|",
         "  the output is float32, less precise than the run's float64 inputs: the implementation computes or "
         "returns it in float32",
         "  every value is within float32's allowance, the tolerance 1e-05 + 1e-05 * |expected| (or 2 x the plain "
         "float32 formula's error, where larger): the implementation seems to compute in float32 or lower precision, "
         "not float64"],
        consecutive=True,
    )
    got, expected = result.stdout.str().split("got ")[1].split(", |difference|")[0].split(", expected ")
    assert got != expected  # enough digits to tell them apart


# 2. module:attr names an object


@pytest.mark.parametrize("attr", ["namespace", "instance"])
def test_it_accepts_an_object_named_as_module_colon_attribute(pytester, suite_tests, attr):
    write(pytester, "objects", OBJECTS)
    result = run(pytester, f"--impl=objects:{attr}")
    expect_only_softmax_ran(result, suite_tests)
    result.stdout.fnmatch_lines([header(f"objects:{attr}", "--impl", f"{pytester.path}/objects.py")])


# 3. Where the name comes from: command line, then $ATTENTION_IMPL, then the ini file


def test_it_takes_the_implementation_from_the_ini_file_when_the_suite_runs(pytester, suite_tests, only_softmax):
    pytester.makeini(f"[pytest]\nattention_impl = {only_softmax}\n")
    result = run(pytester, "--pyargs", "attention_conformance")
    expect_only_softmax_ran(result, suite_tests)
    result.stdout.fnmatch_lines([header("only_softmax", f"attention_impl in {pytester.path}/tox.ini", "*")])


def test_it_takes_the_implementation_from_the_environment_when_the_suite_runs(
    pytester, suite_tests, only_softmax, monkeypatch
):
    monkeypatch.setenv("ATTENTION_IMPL", only_softmax)
    result = run(pytester, str(SUITE))
    expect_only_softmax_ran(result, suite_tests)
    result.stdout.fnmatch_lines([header("only_softmax", "$ATTENTION_IMPL", "*/only_softmax.py")])


def test_it_prefers_the_environment_to_the_ini_file(pytester, only_softmax, monkeypatch):
    pytester.makeini("[pytest]\nattention_impl = no_such_module\n")
    monkeypatch.setenv("ATTENTION_IMPL", only_softmax)
    result = run(pytester, "--pyargs", "attention_conformance", "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([header("only_softmax", "$ATTENTION_IMPL", "*")])


def test_it_prefers_the_command_line_to_the_environment_and_the_ini_file(pytester, only_softmax, monkeypatch):
    pytester.makeini("[pytest]\nattention_impl = no_such_module\n")
    monkeypatch.setenv("ATTENTION_IMPL", "no_such_module_either")
    result = run(pytester, f"--impl={only_softmax}", "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([header("only_softmax", "--impl", "*")])


def test_it_runs_the_reference_when_no_implementation_is_named(pytester):
    result = run_subprocess(pytester, str(SUITE), "--collect-only")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([header(REFERENCE, "default", "*/reference/__init__.py")])


# 4. A bad name is one usage error


def test_it_reports_an_unknown_module_as_a_usage_error(pytester):
    result = run(pytester, "--impl=no_such_module")
    expect_usage_error(
        result,
        "ERROR: attention conformance: cannot use the implementation from --impl: "
        "'no_such_module': no module named 'no_such_module' (is it installed, or in the folder pytest runs from?)",
    )


def test_it_tells_to_write_a_colon_when_a_dotted_name_is_an_attribute(pytester):
    result = run(pytester, f"--impl={REFERENCE}.softmax")
    expect_usage_error(result, f"ERROR: *: {REFERENCE}.softmax is not a module; to name an object write {REFERENCE}:softmax")


def test_it_names_an_attribute_the_module_lacks(pytester):
    result = run(pytester, f"--impl={REFERENCE}:no_such_thing")
    expect_usage_error(result, f"ERROR: *: '{REFERENCE}:no_such_thing': {REFERENCE} has no attribute 'no_such_thing'")


def test_it_shows_the_exception_of_a_module_whose_import_raises(pytester):
    write(pytester, "broken_on_import", "raise RuntimeError('this module is broken')")
    result = run(pytester, "--impl=broken_on_import")
    expect_usage_error(result, "ERROR: *: importing broken_on_import raised RuntimeError('this module is broken')")


def test_it_tells_a_missing_dependency_apart_from_a_missing_implementation(pytester):
    write(pytester, "needs_more", "import no_such_dependency")
    result = run(pytester, "--impl=needs_more")
    expect_usage_error(result, "ERROR: *: importing needs_more raised ModuleNotFoundError(*no_such_dependency*)")


@pytest.mark.parametrize("name", ["foo:", "a b", ":softmax", "attention_conformance.reference:softmax."])
def test_it_rejects_a_malformed_name(pytester, name):
    result = run(pytester, f"--impl={name}")
    expect_usage_error(
        result, f"ERROR: *: '{name}' is not a module path: expected package.module or package.module:attribute"
    )


def test_it_rejects_a_module_that_provides_none_of_the_callables(pytester):
    write(pytester, "unrelated", "def hello():\n    pass\n")
    result = run(pytester, "--impl=unrelated")
    expect_usage_error(result, "ERROR: *: 'unrelated' provides none of the contract's callables (softmax, *)")


def test_it_names_the_environment_variable_when_its_name_is_bad(pytester, monkeypatch):
    monkeypatch.setenv("ATTENTION_IMPL", "no_such_module")
    result = run(pytester, str(SUITE))
    expect_usage_error(result, "ERROR: *from $ATTENTION_IMPL: 'no_such_module': no module named 'no_such_module'*")


def test_it_rejects_an_unknown_dtype(pytester):
    result = run(pytester, f"--impl={REFERENCE}", "--impl-dtype=int32")
    expect_usage_error(
        result,
        "ERROR: usage: *",
        "*: error: argument --impl-dtype: 'int32' is not one of float64, float32*",
        "  inifile: *",
        "  rootdir: *",
    )


# 5. A partial implementation


def test_it_skips_the_checks_of_callables_not_provided_naming_them(pytester, suite_tests, only_softmax):
    result = run(pytester, f"--impl={only_softmax}", "-rs")
    expect_only_softmax_ran(result, suite_tests)
    for capability in MISSING:
        result.stdout.fnmatch_lines([f"SKIPPED *: only_softmax does not provide {capability}"])
    result.stdout.fnmatch_lines(summary("only_softmax", {"softmax": "conforms (* checks passed)"}))


def test_it_fails_the_checks_of_callables_not_provided_under_strict(pytester, suite_tests, only_softmax):
    result = run(pytester, f"--impl={only_softmax}", "--impl-strict")
    expect_only_softmax_ran(result, suite_tests, others="failed")
    result.stdout.fnmatch_lines(
        ["only_softmax does not provide embed (--impl-strict makes a missing capability a failure)"]
    )
    strict = dict.fromkeys(MISSING, "not provided (a failure under --impl-strict)")
    result.stdout.fnmatch_lines(summary("only_softmax", {**strict, "softmax": "conforms (* checks passed)"}))


# 6. A broken implementation fails, saying how


def test_it_fails_an_implementation_that_raises_showing_the_exception(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "raise ValueError('the implementation broke')")
    result.stdout.fnmatch_lines(["softmax(x=*)", "  raised ValueError: the implementation broke"], consecutive=True)
    result.stdout.fnmatch_lines(summary("broken", {"softmax": f"fails {suite_tests['test_softmax.py']} of * checks"}))


def test_it_fails_an_implementation_that_returns_nan_saying_so(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "return np.full(x.shape, np.nan)")
    result.stdout.fnmatch_lines(["  got NaN or inf where the expected value is finite"])


def test_it_fails_an_implementation_that_returns_the_wrong_shape_naming_both_shapes(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "return np.ones(x.shape[:-1])")
    result.stdout.fnmatch_lines(["  checked: softmax shape", "  expected shape (*), got (*)"], consecutive=True)


def test_it_fails_an_implementation_that_returns_a_string_saying_it_is_not_an_array(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "return 'softmax'")
    result.stdout.fnmatch_lines(["  got str, which is not an array of numbers (*)"])


def test_it_fails_an_implementation_that_returns_none_saying_it_is_not_an_array(pytester, suite_tests):
    result = run_broken_softmax(pytester, suite_tests, "return None")
    result.stdout.fnmatch_lines(["  got NoneType, which is not an array of numbers*"])


def test_it_fails_an_implementation_that_writes_to_its_input(pytester, suite_tests):
    body = "x -= np.max(x, axis=axis, keepdims=True); e = np.exp(x); return e / np.sum(e, axis=axis, keepdims=True)"
    result = run_broken_softmax(pytester, suite_tests, body)
    result.stdout.fnmatch_lines(
        ["softmax(x=*)", "  changed its input x in place: inputs are read-only"], consecutive=True
    )


# 7. pytest-xdist


def test_it_gives_the_same_outcomes_and_summary_under_xdist(pytester, suite_tests, only_softmax):
    result = run_subprocess(pytester, f"--impl={only_softmax}", "-p", "xdist", "-n", "2")
    expect_only_softmax_ran(result, suite_tests)
    result.stdout.fnmatch_lines(
        ["created: 2/2 workers", *summary("only_softmax", {"softmax": "conforms (* checks passed)"})]
    )


def test_it_passes_strict_on_to_the_xdist_workers(pytester, suite_tests, only_softmax):
    result = run_subprocess(pytester, f"--impl={only_softmax}", "--impl-strict", "-p", "xdist", "-n", "2")
    expect_only_softmax_ran(result, suite_tests, others="failed")


# 8. Explicit paths


def test_it_runs_only_the_tests_given_on_the_command_line(pytester, suite_tests):
    result = run_subprocess(pytester, f"--impl={REFERENCE}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(passed=suite_tests["test_softmax.py"])
    result.stdout.fnmatch_lines(summary(REFERENCE, {"softmax": "conforms (*)", **dict.fromkeys(MISSING, "not run")}))


# 9. Known failures declared in a file


def declare(pytester, *lines):
    return pytester.makefile(".txt", known_failures="\n".join(lines))


def test_it_marks_declared_failures_xfail_and_counts_them_as_known(pytester, suite_tests):
    path = declare(
        pytester,
        "# ours",
        "test_softmax_known_answers   our softmax rounds",
        "test_softmax_gives_minus_inf_weight_zero",
    )
    body = "return np.zeros(x.shape)"  # fails every softmax check
    write(pytester, "broken", f"import numpy as np\n\n\ndef softmax(x, axis=-1):\n    {body}\n")
    result = run(pytester, "--impl=broken", f"--impl-xfail={path}", str(SUITE / "test_softmax.py"), "-rx")
    result.assert_outcomes(failed=suite_tests["test_softmax.py"] - 2, xfailed=2)
    result.stdout.fnmatch_lines([f"XFAIL *test_softmax_known_answers* - our softmax rounds ({path}:2)"])


@pytest.mark.parametrize("separator", [" ", "\t"])
def test_it_takes_a_node_id_as_pytest_prints_it(pytester, suite_tests, separator):
    path = declare(pytester, f"test_softmax.py::test_softmax_known_answers{separator}our softmax rounds")
    write(pytester, "broken", "import numpy as np\n\n\ndef softmax(x, axis=-1):\n    return np.zeros(x.shape)\n")
    result = run(pytester, "--impl=broken", f"--impl-xfail={path}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(failed=suite_tests["test_softmax.py"] - 1, xfailed=1)


def test_it_fails_a_declared_failure_that_passes(pytester, suite_tests):
    path = declare(pytester, "test_softmax_known_answers")
    result = run(pytester, f"--impl={REFERENCE}", f"--impl-xfail={path}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(passed=suite_tests["test_softmax.py"] - 1, failed=1)
    result.stdout.fnmatch_lines(["[[]XPASS(strict)] declared as a known failure (*known_failures.txt:1)"])


def test_it_warns_about_a_declared_failure_that_matches_no_test(pytester, suite_tests):
    path = declare(pytester, "test_softmax_known_answers[no-such-case]  stale")
    result = run(pytester, f"--impl={REFERENCE}", f"--impl-xfail={path}", str(SUITE / "test_softmax.py"))
    result.assert_outcomes(passed=suite_tests["test_softmax.py"], warnings=1)
    result.stdout.fnmatch_lines(
        [f"*{path}:1: 'test_softmax_known_answers[[]no-such-case]' matches no test of the suite"]
    )


def test_it_rejects_a_known_failures_file_it_cannot_read(pytester):
    result = run(pytester, f"--impl={REFERENCE}", "--impl-xfail=missing.txt")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*argument --impl-xfail: cannot read the known-failures file missing.txt: No such file*"]
    )
