"""--impl-explore: random cases within the declaration, drawn by Hypothesis, a failure shrunk to a
minimal call and printed reproducibly; the default run neither collects them nor needs Hypothesis."""

import os
import subprocess
import sys

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from test_plugin import SUITE, run_subprocess
from tools.kill_matrix import ROOT

KERNELS = ROOT / "tests" / "kernels"


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def test_the_default_run_neither_collects_the_explored_checks_nor_imports_hypothesis(pytester, suite_tests):
    result = run_subprocess(pytester, "--impl=attention_conformance.reference", "--collect-only", "-q")
    assert "test_explore" not in result.stdout.str()
    imported = subprocess.run([sys.executable, "-c", "import sys, attention_conformance.plugin, attention_conformance.conftest; "
                               "print('hypothesis' in sys.modules)"], capture_output=True, text=True)
    assert imported.stdout.strip() == "False", imported.stderr


def explore(pytester, impl, *options):
    pytester.syspathinsert(KERNELS)
    return run_subprocess(pytester, f"--impl={impl}", "--impl-explore=40", str(SUITE / "test_explore.py"),
                          "-k", "sdpa", *options)


def test_a_failure_is_shrunk_to_a_minimal_call_printed_reproducibly(pytester, monkeypatch):
    monkeypatch.setenv("CI", "1")  # derandomised: the same examples, the same minimal case every time
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(KERNELS), os.environ.get("PYTHONPATH", "")]))
    first = explore(pytester, "tiled:small_bugs.causal_mask_per_tile")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    first.stdout.fnmatch_lines(["*reproduce:", "*from attention_conformance.cases import attention_inputs",
                                "*inputs = attention_inputs(seed=*, lq=17, lk=17, *mask='causal'*"], consecutive=False)
    # the kit's message for the shrunk case, and none of the kit's own code (no test depends on Hypothesis' words)
    first.stdout.fnmatch_lines(["*test_sdpa_on_explored_cases*", "scaled_dot_product_attention(q=float64[[]*, 17, *]*",
                                "  checked: output"], consecutive=False)
    kit_code = {line.strip() for line in (SUITE / "test_explore.py").read_text().splitlines() if len(line.strip()) > 12}
    assert not [line for line in first.stdout.lines if line.strip() in kit_code]
    assert not (pytester.path / ".hypothesis").exists(), "Hypothesis wrote its folder into the project"
    again = explore(pytester, "tiled:small_bugs.causal_mask_per_tile")
    shrunk = [line for line in first.stdout.lines if "inputs = attention_inputs(" in line]
    assert shrunk == [line for line in again.stdout.lines if "inputs = attention_inputs(" in line]


def test_a_correct_kernel_passes_the_explored_cases(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(KERNELS), os.environ.get("PYTHONPATH", "")]))
    result = explore(pytester, "tiled:small")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".hypothesis").exists(), "Hypothesis wrote its folder into the project"


def test_exploring_without_hypothesis_is_a_usage_error(pytester, monkeypatch):
    blocked = pytester.mkdir("blocked")
    (blocked / "hypothesis.py").write_text("raise ImportError('no hypothesis here')\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")]))
    result = run_subprocess(pytester, "--impl=attention_conformance.reference", "--impl-explore=5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl-explore needs Hypothesis: pip install 'attention-conformance[[]explore]'"])
