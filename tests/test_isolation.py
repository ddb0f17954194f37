"""Calls of the implementation are isolated from the kit: time limits, exceptions that end
processes, the user's numpy state and warning filters, read-only inputs, an opaque cache."""

import signal

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from test_plugin import SUITE, run, run_subprocess, write

SOFTMAX = str(SUITE / "test_softmax.py")
STABLE = "e = np.exp(x - x.max(axis=axis, keepdims=True))\n    return e / e.sum(axis=axis, keepdims=True)"


def literal(text):
    """An fnmatch pattern for text in which [ is a character, not the start of a class ("*" stays a wildcard)."""
    return text.replace("[", "[[]")


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def softmax_module(pytester, name, body, header=""):
    """A module whose softmax runs `body` (which may use np, sys, os) for the (3, 4) input of one
    check, test_softmax_normalises_the_last_axis_by_default, and is right for every other input."""
    source = f"""
import os
import sys

import numpy as np
{header}

def softmax(x, axis=-1):
    if x.shape == (3, 4):
        {body}
    {STABLE}
"""
    write(pytester, name, source)
    return name


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the time limit uses SIGALRM")
def test_a_call_that_hangs_fails_its_check_naming_the_call_and_the_run_goes_on(pytester, suite_tests):
    name = softmax_module(pytester, "hangs", "while True:\n            pass")
    result = run(pytester, f"--impl={name}", "--impl-timeout=0.5", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)
    result.stdout.fnmatch_lines(
        [literal("softmax(x=float64[3, 4] *), inputs drawn with seed 1"), "  did not return within 0.5 s (--impl-timeout*"],
        consecutive=True,
    )


def test_a_call_that_hangs_cannot_swallow_the_time_limit(pytester, suite_tests):
    body = "while True:\n            try:\n                pass\n            except Exception:\n                pass"
    name = softmax_module(pytester, "swallows", body)
    result = run(pytester, f"--impl={name}", "--impl-timeout=0.5", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_it_rejects_a_timeout_that_is_not_a_number_of_seconds(pytester, value):
    result = run(pytester, f"--impl-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument --impl-timeout: '{value}' is not a number of seconds (0 or more*"])


@pytest.mark.parametrize(
    "body, shown",
    [
        ("sys.exit(3)", "raised SystemExit: 3"),
        ("raise GeneratorExit('stop')", "raised GeneratorExit: stop"),
        ("raise BaseException('base')", "raised BaseException: base"),
    ],
)
def test_an_exception_that_would_end_the_run_fails_the_check_in_the_kits_format(pytester, body, shown, suite_tests):
    name = softmax_module(pytester, "ends", body)
    result = run(pytester, f"--impl={name}", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)
    result.stdout.fnmatch_lines([literal("softmax(x=float64[3, 4] *), inputs drawn with seed 1"), f"  {shown}"], consecutive=True)
    failure = result.stdout.str().split("_ test_softmax_normalises_the_last_axis_by_default[default-axis] _")[1]
    assert len(failure.split("= attention conformance")[0].splitlines()) < 20, failure  # not a wall of traceback


def test_keyboard_interrupt_still_stops_the_run(pytester):
    name = softmax_module(pytester, "interrupted", "raise KeyboardInterrupt")
    result = run_subprocess(pytester, f"--impl={name}", SOFTMAX)  # in this process, it would stop this run too
    assert result.ret == pytest.ExitCode.INTERRUPTED


def test_a_worker_that_dies_is_reported_against_its_capability(pytester):
    name = softmax_module(pytester, "dies", "os._exit(1)")
    result = run_subprocess(pytester, f"--impl={name}", "-p", "xdist", "-n", "2", SOFTMAX)
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*", "softmax * fails 1 of * checks (1 crashed the worker)"],
                                consecutive=False)


def test_the_users_numpy_errors_print_options_and_warning_filters_do_not_reach_the_kit(pytester, suite_tests):
    # raise on every floating-point error, print oddly, and turn warnings into errors: the kit's
    # own arithmetic on inf and NaN must still give its message, in its format
    header = 'np.seterr(all="raise")\nnp.set_printoptions(precision=1, sign="+", floatmode="fixed")'
    name = softmax_module(pytester, "strict_numpy", "return np.full(x.shape, np.inf)", header)
    # (in a process of its own: the module's np.seterr would outlive an in-process run)
    result = run_subprocess(pytester, f"--impl={name}", "-W", "error::RuntimeWarning", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)
    result.stdout.fnmatch_lines(
        [
            literal("softmax(x=float64[3, 4] [[ 0.3456,  0.8216, *"),
            "  checked: softmax with the default axis",
            "  worst at index (0, 0): got inf, expected 0.264066, |difference| inf = inf times what is allowed there",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*FloatingPointError*")
    result.stdout.no_fnmatch_line("*Warning*")


def test_a_default_run_prints_no_warning_of_the_kits_own(pytester, suite_tests):
    name = softmax_module(pytester, "infinite", "return np.full(x.shape, np.inf)")
    result = run(pytester, f"--impl={name}", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)
    result.stdout.no_fnmatch_line("*RuntimeWarning*")


def test_the_users_warning_filters_still_apply_to_the_users_code(pytester, suite_tests):
    name = softmax_module(pytester, "warns", "import warnings\n        warnings.warn('deprecated', DeprecationWarning)")
    result = run(pytester, f"--impl={name}", "-W", "error::DeprecationWarning", SOFTMAX)
    result.assert_outcomes(failed=1, passed=suite_tests["test_softmax.py"] - 1)
    result.stdout.fnmatch_lines(["  raised DeprecationWarning: deprecated"])


MULTI_HEAD = """
import numpy as np
from attention_conformance.reference import multi_head_attention as right


def multi_head_attention(x, params, n_heads, mask=None):
    out = right(x, params, n_heads, mask)
    {body}
    return out
"""


@pytest.mark.parametrize(
    "body, line",
    [
        ('params["w_qkv"] = np.concatenate([params["w_q"], params["w_k"], params["w_v"]], axis=1)',
         "  added params['w_qkv'] to its input params: inputs are read-only"),
        ('params = dict(params); params["w_qkv"] = params.pop("w_q")', None),  # its own copy: allowed
        ('params.pop("w_o"); params["w_o"] = np.eye(x.shape[-1])',
         "  replaced params['w_o'] in its input params with another object: inputs are read-only"),
        ('params["w_q"][0, 0] += 1', "  changed its input params['w_q'] in place: inputs are read-only"),
        ('x.shape = (x.shape[0], -1)', "  changed the shape or dtype of its input x in place (*): inputs are read-only"),
    ],
)
def test_changes_to_the_inputs_are_reported_as_such(pytester, body, line):
    write(pytester, "changes_inputs", MULTI_HEAD.format(body=body))
    result = run_subprocess(pytester, "--impl=changes_inputs", str(SUITE / "test_multi_head.py"), "-k", "several_head_splits")
    if line is None:
        result.assert_outcomes(passed=7)
        return
    result.assert_outcomes(failed=7)
    result.stdout.fnmatch_lines([literal("multi_head_attention(x=float64[*"), literal(line)], consecutive=True)
    result.stdout.no_fnmatch_line("*KeyError*")


def test_removing_a_params_key_is_reported_not_a_key_error(pytester):
    write(pytester, "pops", MULTI_HEAD.format(body='params.pop("w_o")'))
    result = run_subprocess(pytester, "--impl=pops", str(SUITE / "test_multi_head.py"), "-k", "several_head_splits")
    result.assert_outcomes(failed=7)
    result.stdout.fnmatch_lines(["  removed params['w_o'] from its input params: inputs are read-only"])
    result.stdout.no_fnmatch_line("*KeyError*")


PREALLOCATED_CACHE = """
import numpy as np
from attention_conformance.reference import scaled_dot_product_attention


def decode_step(x_t, params, n_heads, cache=None):
    # one preallocated array (2, batch, n_heads, 256, d_k) and a count, written in place
    batch, _, d_model = x_t.shape
    d_k = d_model // n_heads
    if cache is None:
        cache = (np.zeros((2, batch, n_heads, 256, d_k)), [0])
    store, count = cache
    heads = lambda w: (x_t @ params[w]).reshape(batch, 1, n_heads, d_k).transpose(0, 2, 1, 3)
    t = count[0]
    store[0, :, :, t], store[1, :, :, t] = heads("w_k")[:, :, 0], heads("w_v")[:, :, 0]
    count[0] += 1
    out, _ = scaled_dot_product_attention(heads("w_q"), store[0, :, :, : t + 1], store[1, :, :, : t + 1])
    return out.transpose(0, 2, 1, 3).reshape(batch, 1, d_model) @ params["w_o"], cache
"""


def test_a_cache_written_in_place_is_the_implementations_own(pytester):
    write(pytester, "preallocated", PREALLOCATED_CACHE)
    result = run_subprocess(pytester, "--impl=preallocated", str(SUITE / "test_decode.py"), "-k", "decode_step")
    result.assert_outcomes(passed=3)
