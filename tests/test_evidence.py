"""Every evidence line is true of the implementation it is printed for: unusual implementations
(a saturated softmax, a tile bug that keeps every dependence, nondeterminism, debug prints) go
through the failing paths, where the diagnosis and the probes run, and what the kit says about
them is checked against what they are known to do."""

import re
from fnmatch import fnmatch
from pathlib import Path

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from attention_conformance.probes import MOST_PROBED
from test_plugin import SUITE, run_subprocess, write

KERNELS = Path(__file__).parent / "kernels"
NOT_DETERMINISTIC = "evidence: the same call twice gives different answers: *"
PRINTED = "evidence: the implementation printed * lines while the kit diagnosed this failure, not shown"

UNUSUAL = {
    # the scale applied to the weights, after the softmax: the scores are 4 times too large and the
    # softmax saturates, yet q, k and v are used at every query
    "scaled_after_softmax": """
import numpy as np
from attention_conformance.reference import softmax


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2)
    weights = softmax(scores if mask is None else scores + mask, axis=-1) / np.sqrt(q.shape[-1])
    return weights @ v, weights
""",
    # noise from an unseeded generator: no two calls agree
    "noisy": """
import numpy as np
from attention_conformance.reference import scaled_dot_product_attention as right


def scaled_dot_product_attention(q, k, v, mask=None):
    out, weights = right(q, k, v, mask)
    return out + 1e-6 * np.random.default_rng().standard_normal(out.shape), weights
""",
    # a counter of calls added to the output
    "counter": """
from attention_conformance.reference import scaled_dot_product_attention as right

CALLS = [0]


def scaled_dot_product_attention(q, k, v, mask=None):
    CALLS[0] += 1
    out, weights = right(q, k, v, mask)
    return out + 1e-3 * CALLS[0], weights
""",
}
# What is true of each: the evidence lines it may get, and one it must get (None: the probes must run
# and stay silent, as each of these uses every input at every place, keeps batch rows apart, and
# answers a call the same way twice, or is the one that does not).
TRUE = {
    "scaled_after_softmax": ((), None),
    "tiled:small_bugs.no_rescale": ((), None),
    "noisy": ((NOT_DETERMINISTIC,), NOT_DETERMINISTIC),
    "counter": ((NOT_DETERMINISTIC,), NOT_DETERMINISTIC),
}
# 150 lines to stdout and 50 to stderr per call, and every batch row attends to row 0's keys and values
CHATTY = """
import sys

from attention_conformance.reference import scaled_dot_product_attention as right


def scaled_dot_product_attention(q, k, v, mask=None):
    for line in range(200):
        print("chatty", line, file=sys.stdout if line < 150 else sys.stderr)
    return right(q, k[:1] + 0 * k, v[:1] + 0 * v, mask)
"""
CHATTY_TRUE = (
    "evidence: changing [kv] at batch row 0 changes the output at batch row [1-9]*, which must not depend on it",
    "evidence: changing [kv] at batch row [1-9] does not change the output at batch row [1-9]*, which depends on "
    "it (*)",
    PRINTED,
)


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def failures(result):
    """{test name: its report's lines} for each failed test of a run."""
    found, name = {}, None
    for line in result.stdout.lines:
        header = re.fullmatch(r"_+ (test\S*) _+", line)  # long names get one "_" each side
        if header:
            name = header.group(1)
            found[name] = []
        elif line.startswith("====") or line.startswith("scaled_dot_product_attention  "):
            name = None
        elif name:
            found[name].append(line)
    return found


def evidence(lines):
    return [line.strip() for line in lines if line.strip().startswith("evidence:")]


def assert_only_true_lines(reports, true):
    """Every evidence line of every failure matches one of the `true` patterns."""
    for name, lines in reports.items():
        false = [line for line in evidence(lines) if not any(fnmatch(line, pattern) for pattern in true)]
        assert not false, (name, false)


@pytest.mark.parametrize("name", TRUE)
def test_every_evidence_line_is_true_of_the_implementation(pytester, name):
    if name in UNUSUAL:
        write(pytester, name, UNUSUAL[name])
    else:  # a kernel of tests/kernels, copied where the run imports it
        write(pytester, "tiled", (KERNELS / "tiled.py").read_text())
    result = run_subprocess(pytester, f"--impl={name}", str(SUITE / "test_attention.py"), "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    reports = failures(result)
    # the diagnosis left the word to the probes: a failure of values that no catalogue entry fits
    unnamed = [test for test, lines in reports.items() if any("values outside" in line for line in lines)
               and not any("looks like:" in line or "fits " in line for line in lines)]
    probed = [test for test in unnamed if not any("(not probed:" in line for line in reports[test])]
    assert probed, result.stdout.str()[-3000:]
    assert len(probed) <= MOST_PROBED  # the others say they were not probed, and how to probe them
    true, expected = TRUE[name]
    assert_only_true_lines(reports, true)
    if expected:  # said wherever the probes ran, and alone: no probe after it measures the noise
        for test in probed:
            assert [fnmatch(line, expected) for line in evidence(reports[test])] == [True], (test, reports[test])


def test_what_the_implementation_prints_while_diagnosed_is_counted_not_shown(pytester):
    write(pytester, "chatty", CHATTY)
    result = run_subprocess(pytester, "--impl=chatty", str(SUITE / "test_attention.py"), "-p", "no:randomly",
                            "-k", "matches_the_formula")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    reports = failures(result)
    assert reports
    for test, lines in reports.items():
        shown = sum(line.startswith("chatty ") for line in lines)
        assert shown == 200, (test, shown)  # the check's own call, as pytest captured it: the probes' left out
        (counted,) = [line for line in evidence(lines) if fnmatch(line, PRINTED)]
        hidden = int(counted.split("printed ")[1].split()[0])
        assert hidden > 0 and hidden % 200 == 0, counted  # whole calls, stdout and stderr both
    assert_only_true_lines(reports, CHATTY_TRUE)
