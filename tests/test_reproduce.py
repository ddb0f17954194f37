"""Every failure ends with a snippet that reproduces it in a plain Python prompt: imports, the inputs
from their seed and shapes, the call, the expected answer."""

import json
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
difference = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(arrays(got), arrays(expected)))
"""
# Runs each snippet, with COMPARE, in a namespace of its own, all in one process (a process each
# costs a second of imports): prints the JSON list of their differences, or of what they raised.
EACH = """
import json, sys, traceback
found = []
for code in json.load(sys.stdin):
    space = {}
    try:
        exec(code, space)
        found.append(space["difference"])
    except BaseException:
        found.append(traceback.format_exc())
print(json.dumps(found))
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
    codes = [snippets(outcome.message) for outcome in failures]  # every one: a literal the snippet cannot write shows up in any
    for code, outcome in zip(codes, failures):
        assert code.startswith("import") and "expected = Formulas()" in code, outcome.message
    done = subprocess.run([sys.executable, "-c", EACH], input=json.dumps([code + COMPARE for code in codes]),
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for code, difference in zip(codes, json.loads(done.stdout), strict=True):
        assert isinstance(difference, float), f"{code}\n{difference}"
        assert difference > ROUNDING[dtype], (code, difference)  # a real difference, not rounding
