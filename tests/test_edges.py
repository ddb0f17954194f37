"""Edges users hit (issue 14): each bad input ends in a clear message naming the problem, the run
going on where it can, no internal traceback, and no false pass."""

import json
import os
import subprocess
import sys

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from test_plugin import SUITE, run_subprocess, write

SDPA = str(SUITE / "test_attention.py")
SHAPES = "test_attention.py::test_sdpa_output_and_weights_have_the_contract_shapes"
RIGHT = "from attention_conformance.reference import scaled_dot_product_attention as right\n"


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def sdpa(pytester, name, body, imports="import numpy as np\n"):
    """A module whose scaled_dot_product_attention returns `body`, given out, weights from the reference."""
    write(pytester, name, f"{imports}{RIGHT}\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
                          f"    out, weights = right(q, k, v, mask)\n    return {body}\n")
    return name


def kit_traceback(result):
    """Lines that show the kit's own code or Python's chained-exception text."""
    text = result.stdout.str() + result.stderr.str()
    return [line for line in text.splitlines()
            if "During handling of the above exception" in line or "INTERNALERROR" in line
            or "attention_conformance/" in line and ".py:" in line and "reproduce" not in line]


# 1. outputs that are not real floating-point arrays


@pytest.mark.parametrize(("body", "said"), [
    ("(out + 1j * out, weights)", "  got an array of dtype complex128, whose imaginary part reaches *: the contract's "
                                  "outputs are real floating-point arrays*"),
    ("((100 * out).astype(np.int64), weights)", "  got an array of dtype int64: the contract's outputs are "
                                                "floating-point arrays*"),
    ("(out > 0, weights)", "  got an array of dtype bool: the contract's outputs are floating-point arrays*"),
])
def test_an_output_that_is_not_real_floats_fails_every_check_saying_so(pytester, body, said):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'odd', body)}", SDPA)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") and not outcomes.get("passed"), outcomes  # the imaginary part is never dropped
    result.stdout.fnmatch_lines([said])
    assert "is not used" not in result.stdout.str()  # the probes do not blame an input for the dtype


def test_a_float16_output_in_a_float64_run_says_what_it_returned(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'half', '(out.astype(np.float16), weights)')}", SDPA)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["  the output is float16, less precise than the run's float64 inputs: the "
                                 "implementation computes or returns it in float16"])


# 10. a result that is not an array


def test_a_non_array_result_fails_without_the_kits_chained_exception_text(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'text', repr('hello'))}", SDPA)
    result.stdout.fnmatch_lines(["  got str, which is not an array of numbers (*)"])
    assert not kit_traceback(result)


# 2. time limits a timer cannot hold


def test_an_infinite_timeout_means_no_limit(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}", "--impl-timeout=inf", SHAPES)
    result.stdout.fnmatch_lines(["attention conformance: *timeout per call none*"])
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_a_timeout_longer_than_a_timer_holds_is_a_usage_error(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}", "--impl-timeout=1e10")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl-timeout: '1e10' seconds is longer than a timer can hold*0 or inf: no limit"])


# 5. a call or an import that will not stop


@pytest.mark.parametrize("body", [
    # a retry loop that swallows every interruption
    "while True:\n        try:\n            time.sleep(5)\n        except BaseException:\n            pass",
    # its own SIGALRM handler, then a wait
    "signal.signal(signal.SIGALRM, lambda *args: None)\n    time.sleep(30)\n    return out, weights",
])
def test_a_call_that_defeats_the_interruption_still_ends_within_the_timeout(pytester, body):
    write(pytester, "stubborn", f"import signal\nimport time\n{RIGHT}\n\n"
                                f"def scaled_dot_product_attention(q, k, v, mask=None):\n    out, weights = None, None\n"
                                f"    {body}\n")
    result = run_subprocess(pytester, "--impl=stubborn", "--impl-timeout=0.5", SHAPES + "[3d]")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    said = result.stdout.str() + result.stderr.str()
    assert "stopped in test_attention.py::test_sdpa_output_and_weights_have_the_contract_shapes[3d]:" in said
    assert "scaled_dot_product_attention(q=float64[2, 3, 4], k=float64[2, 5, 4], v=float64[2, 5, 6], mask=None)" in said
    assert "did not return within 0.5 s (--impl-timeout), and went on when interrupted" in said
    assert "--deselect 'test_attention.py::test_sdpa_output_and_weights_have_the_contract_shapes[3d]'" in said


def test_under_xdist_a_call_that_will_not_stop_is_reported_against_its_callable_and_the_run_goes_on(pytester):
    write(pytester, "stubborn", f"import time\n{RIGHT}\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
                                "    while True:\n        try:\n            time.sleep(5)\n"
                                "        except BaseException:\n            pass\n\n\n"
                                "from attention_conformance.reference import softmax\n")
    result = run_subprocess(pytester, "-p", "xdist", "-n", "1", "--impl=stubborn", "--impl-timeout=0.5", SHAPES + "[3d]",
                            str(SUITE / "test_softmax.py") + "::test_softmax_matches_the_formula")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["softmax  *conforms (4 of 4 checks passed)",
                                 "scaled_dot_product_attention *fails 1 of 1 checks (1 crashed the worker)"],
                                consecutive=False)


def test_an_import_that_hangs_is_a_usage_error_naming_the_limit(pytester):
    write(pytester, "slow_import", "import time\ntime.sleep(30)\n")
    result = run_subprocess(pytester, "--impl=slow_import", "--impl-timeout=0.5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'slow_import': importing slow_import did not finish within 0.5 s (--impl-timeout)*"])


# 3. the report's path


def test_a_report_path_that_is_a_folder_is_a_usage_error(pytester):
    pytester.mkdir("reports")
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}", "--impl-report=reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl-report: 'reports' is a folder: name a file in it, e.g. reports/report.json"])


def test_a_report_in_a_new_folder_says_where_it_was_written(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}", "--impl-report=new/r.json",
                            SHAPES)
    written = pytester.path / "new" / "r.json"
    result.stdout.fnmatch_lines([f"report written to {written}"])
    assert json.loads(written.read_text())["capabilities"]["scaled_dot_product_attention"]["outcomes"]["passed"] == 4


def test_a_report_that_cannot_be_written_keeps_the_summary_and_fails_the_run(pytester):
    (pytester.path / "taken").write_text("a file, where the report wants a folder\n")
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}",
                            "--impl-report=taken/r.json", SHAPES)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["scaled_dot_product_attention *conforms (4 of 4 checks passed)",
                                 "could not write the report (--impl-report) to *taken*"], consecutive=False)
    assert not kit_traceback(result)


# 6. a name that is not a function; an interrupted import


def test_a_contract_name_that_is_not_callable_fails_its_checks(pytester):
    write(pytester, "not_callable", "from attention_conformance.reference import scaled_dot_product_attention\nsoftmax = 3\n")
    result = run_subprocess(pytester, "--impl=not_callable", str(SUITE / "test_softmax.py"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["not_callable provides softmax = 3 (of type int): the contract's softmax is a "
                                 "function (or set it to None to leave it out)",
                                 "softmax  *fails * of * checks"], consecutive=False)


def test_a_keyboard_interrupt_at_import_says_so(pytester):
    write(pytester, "interrupted", "raise KeyboardInterrupt\n")
    result = run_subprocess(pytester, "--impl=interrupted")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "attention conformance: importing interrupted was interrupted (KeyboardInterrupt raised at " in (
        result.stdout.str() + result.stderr.str())


# 7. a run that tested nothing


@pytest.mark.parametrize("options", [(), ("-p", "xdist", "-n", "2")])
def test_a_run_whose_declaration_rules_out_every_check_fails_saying_why(pytester, options):
    write(pytester, "half_only", 'from attention_conformance.reference import *\n\nCONFORMANCE = {"dtypes": ["float16"]}\n')
    result = run_subprocess(pytester, "--impl=half_only", *options)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result.stdout.fnmatch_lines(["no check ran, so nothing was tested: the implementation's CONFORMANCE "
                                 "(dtypes=[[]float16]) rules out every check of this run (dtype float64), by dtypes "
                                 "(* checks); run in a dtype it declares, e.g. --impl-dtype=float16. The run fails*"])


def test_a_run_that_tested_something_is_not_failed_for_what_it_skipped(pytester):
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}")
    assert result.ret == pytest.ExitCode.OK
    assert "no check ran" not in result.stdout.str()


# 11. a node id the kit printed, pasted back


def test_a_failing_checks_node_id_pasted_back_runs_that_check(pytester):
    name = sdpa(pytester, "unscaled", "right(q * np.sqrt(q.shape[-1]), k, v, mask)")
    first = run_subprocess(pytester, f"--impl={name}", "-k", "test_sdpa", "-rf")  # no path: ids as a whole run prints them
    failed = [line.split()[1] for line in first.stdout.lines if line.startswith("FAILED ")]
    assert failed and all(node.startswith("test_attention.py::") for node in failed), first.stdout.str()
    again = run_subprocess(pytester, f"--impl={name}", failed[0], "-rf")
    again.assert_outcomes(failed=1)
    assert any(line.startswith(f"FAILED {failed[0]}") for line in again.stdout.lines)
    # without [case]: every case of the function, as pytest reads a node id
    function = failed[0].partition("[")[0]
    every = run_subprocess(pytester, f"--impl={name}", function).parseoutcomes()
    assert every["failed"] == sum(node.startswith(function + "[") for node in failed) and every["deselected"], every


def test_a_pasted_node_id_is_the_adopters_own_file_when_they_have_one(pytester):
    pytester.makepyfile(test_attention="def test_mine():\n    assert True\n")
    result = run_subprocess(pytester, f"--impl={sdpa(pytester, 'fine', '(out, weights)')}", "test_attention.py::test_mine")
    result.assert_outcomes(passed=1)


# a raise names no mistake (issue 15): any code may raise ValueError for its own reasons


@pytest.mark.parametrize("source", [
    "def scaled_dot_product_attention(q, k, v, mask=None):\n    raise ValueError('not implemented yet')\n",
    # a kernel's own limit, raised where the keys-not-transposed mistake raises too
    f"{RIGHT}\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n    if q.shape[-2] != k.shape[-2]:\n"
    "        raise ValueError('this kernel takes as many queries as keys')\n    return right(q, k, v, mask)\n",
    "import numpy as np\n\n\ndef softmax(x, axis=-1):\n    e = np.exp(x - x.max(axis=axis))\n"
    "    return e / e.sum(axis=axis)\n",  # keepdims missing: a broadcasting ValueError on most shapes
])
def test_an_implementation_that_raises_is_named_no_mistake(pytester, source):
    write(pytester, "raising", source)
    result = run_subprocess(pytester, "--impl=raising", "--impl-report=report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    document = json.loads((pytester.path / "report.json").read_text())
    assert not [check for check in document["checks"] if check.get("diagnosis")]
    assert not any(capability["diagnosis"] for capability in document["capabilities"].values())
    assert "looks like:" not in result.stdout.str() and "fits one mistake" not in result.stdout.str()
