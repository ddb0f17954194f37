"""Every failure ends with a snippet that reproduces it in a plain Python prompt: imports, the inputs
from their seed and shapes, the call, the expected answer."""

import subprocess
import sys

import pytest

from tools.kill_matrix import MUTANTS, OPTIONS, ROOT, run_suite

COMPARE = """
def arrays(result):  # every array of a result: an output, (output, weights), gradients and their dicts
    if isinstance(result, dict):
        return [array for value in result.values() for array in arrays(value)]
    if isinstance(result, tuple):
        return [array for value in result for array in arrays(value)]
    return [np.asarray(result, dtype=np.float64)]
print(max(float(np.nanmax(np.abs(a - b))) for a, b in zip(arrays(got), arrays(expected))))
"""

ROUNDING = {"float64": 1e-9, "float32": 1e-4, "bfloat16": 1e-2}  # above any rounding of the dtype at these sizes


def snippets(message):
    """The snippets of a run's failure messages (the indented lines after "reproduce:")."""
    _, _, rest = message.partition("  reproduce:\n")
    lines = []
    for line in rest.splitlines():
        if not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines)


@pytest.mark.parametrize("mutant, dtype", [("unscaled_scores", "float64"), ("chunk_without_causal_mask", "float32"),
                                           ("kv_heads_tiled", "bfloat16"), ("softmax_ignores_axis", "float64")])
def test_the_snippet_of_a_failure_reproduces_it_outside_pytest(mutant, dtype):
    run = run_suite(f"{MUTANTS}.{mutant}", f"--impl-dtype={dtype}", *OPTIONS)
    failures = [outcome for outcome in run.failed().values() if outcome.failure == "value"]
    assert failures, run.output[-3000:]
    for outcome in failures:  # every one: a literal the snippet cannot write shows up in any of them
        code = snippets(outcome.message)
        assert code.startswith("import") and "expected = Formulas()" in code, outcome.message
        done = subprocess.run([sys.executable, "-c", code + COMPARE], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{code}\n{done.stderr}"
        assert float(done.stdout) > ROUNDING[dtype], (code, done.stdout)  # a real difference, not rounding
