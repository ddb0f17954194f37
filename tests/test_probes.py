"""Evidence without a catalogue entry: for mistakes no mutant describes, the probes say what is
wrong from the implementation's own behaviour (an unused parameter, a leak across batch rows,
state kept between calls), and never speak for a correct implementation."""

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from test_plugin import SUITE, run_subprocess, write

OUTSIDE_THE_CATALOGUE = {
    # values taken from x itself: w_v is never used
    "unused_parameter": """
from attention_conformance.reference import merge_heads, scaled_dot_product_attention, split_heads


def multi_head_attention(x, params, n_heads, mask=None):
    q, k = split_heads(x @ params["w_q"], n_heads), split_heads(x @ params["w_k"], n_heads)
    out, _ = scaled_dot_product_attention(q, k, split_heads(x, n_heads), mask)
    return merge_heads(out) @ params["w_o"]
""",
    # every batch row attends to the keys and values of row 0
    "batch_leak": """
from attention_conformance.reference import scaled_dot_product_attention as right


def scaled_dot_product_attention(q, k, v, mask=None):
    return right(q, k[:1] + 0 * k, v[:1] + 0 * v, mask)
""",
    # a running statistic kept between calls
    "state_kept": """
from attention_conformance.reference import scaled_dot_product_attention as right

CALLS = [0]


def scaled_dot_product_attention(q, k, v, mask=None):
    CALLS[0] += 1
    out, weights = right(q, k, v, mask)
    return out * (1 + 1e-3 * CALLS[0]), weights
""",
}
EXPECTED = {
    "unused_parameter": ("test_multi_head.py", "evidence: changing params['w_v'] does not change the output: params['w_v'] "
                         "is not used (shifted, redrawn or negated, here and on small random inputs, the output stays "
                         "the same bit for bit)"),
    "batch_leak": ("test_attention.py", "evidence: changing k at batch row 0 changes the output at batch row 1, * which must not depend on it"),
    "state_kept": ("test_attention.py", "evidence: the same call twice gives different answers: the implementation keeps state between calls*"),
}


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


@pytest.mark.parametrize("name", OUTSIDE_THE_CATALOGUE)
def test_the_probes_say_what_is_wrong_with_a_mistake_outside_the_catalogue(pytester, name):
    write(pytester, name, OUTSIDE_THE_CATALOGUE[name])
    module, line = EXPECTED[name]
    result = run_subprocess(pytester, f"--impl={name}", str(SUITE / module))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"  {line}"])
    result.stdout.no_fnmatch_line("*looks like:*")  # no catalogue entry fits: none is named


def test_the_probes_run_only_after_a_failure(pytester, monkeypatch):
    # a correct implementation that counts its calls: the suite calls it once per check, no more
    write(pytester, "counted", """
from attention_conformance.reference import scaled_dot_product_attention as right

CALLS = []


def scaled_dot_product_attention(q, k, v, mask=None):
    CALLS.append(1)
    return right(q, k, v, mask)
""")
    write(pytester, "counting", "import counted\n\n\ndef pytest_sessionfinish(session):\n    print('calls:', len(counted.CALLS))\n")
    result = run_subprocess(pytester, "--impl=counted", str(SUITE / "test_attention.py"), "-s", "-p", "counting")
    assert result.ret == pytest.ExitCode.OK
    checks = result.parseoutcomes()["passed"]
    calls = int(result.stdout.str().split("calls: ")[1].split()[0])
    assert calls == checks, (calls, checks)  # one call per check: nothing probes a passing run
