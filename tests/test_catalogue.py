"""Meta-tests of the catalogue: every hand-written mutant (mutants/) is killed by a failing check
of its behaviour, the suite names its mistake (in a failure or in the end-of-run summary), and
no failure or summary names another one. The suite runs once per mutant (tools.kill_matrix)."""

import ast
import inspect
import json
import textwrap

import pytest

from attention_conformance import diagnosis
from attention_conformance.mutants import reference_functions
from tools.kill_matrix import MUTANTS, OPTIONS, OUTPUT, ROOT, kill_matrix, mutant_names, run_many

REFERENCE = "attention_conformance.reference"
CATALOGUE = diagnosis.catalogue()
# Mistakes that only show in float64: computing in float32 is right in a float32 run.
FLOAT64_ONLY = {"computes_in_float32"}


@pytest.fixture(scope="session")
def runs():
    """{implementation: Run}: the suite once on the reference and once on each mutant, two at a time."""
    return run_many([REFERENCE, *(f"{MUTANTS}.{name}" for name in CATALOGUE)], *OPTIONS)


@pytest.fixture
def run(runs, name):
    """The mutant's run, after checking that it has no errors."""
    found = runs[f"{MUTANTS}.{name}"]
    errors = [test for test, outcome in found.outcomes.items() if outcome.status == "error"]
    assert found.returncode == 1 and not errors, f"exit {found.returncode}, errors in {errors}\n{found.output[-3000:]}"
    return found


def test_the_catalogue_holds_every_mutant_module_and_at_least_thirty_of_contract_v1():
    assert set(CATALOGUE) == set(mutant_names())
    v2 = {"grouped_query_attention", "cross_attention", "apply_rope", "decode_chunk", "create_sliding_window_mask"}
    assert sum(not mistake.functions & v2 for mistake in CATALOGUE.values()) >= 30
    for callable_ in v2:
        assert sum(callable_ in mistake.functions for mistake in CATALOGUE.values()) >= 2, callable_


def test_the_reference_passes_without_a_word_of_diagnosis(runs):
    run = runs[REFERENCE]
    assert run.returncode == 0 and run.outcomes and not run.failed(), run.output[-3000:]
    assert "looks like:" not in run.output and "fits " not in run.output and "evidence:" not in run.output
    assert not any(run.summary.values())


@pytest.mark.parametrize("name", CATALOGUE)
def test_mutant_is_killed_by_a_failing_check_of_its_values_not_only_by_a_raise(run, name):
    assert any(outcome.by_a_check for outcome in run.failed().values()), f"no value check fails on {name}"


@pytest.mark.parametrize("name", CATALOGUE)
def test_mutant_is_named_right_and_no_mistake_is_named_wrong(run, name):
    assert run.diagnoses() == [CATALOGUE[name].title], run.output[-4000:]


@pytest.mark.parametrize("name", CATALOGUE)
def test_mutant_holds_only_its_faulty_functions_each_unlike_the_reference(name):
    reference = {function: _dump(inspect.getsource(value)) for function, value in reference_functions().items()}
    tree = ast.parse((ROOT / "mutants" / f"{name}.py").read_text())
    defined = {node.name: _dump(ast.unparse(node)) for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert set(defined) == CATALOGUE[name].functions and set(defined) <= set(reference)
    assert all(defined[function] != reference[function] for function in defined), "a function the same as the reference's"
    others = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in others[1:]] == ["complete(globals())"], "the docstring, then only complete()"


@pytest.mark.parametrize("name", CATALOGUE)
def test_mutant_marks_its_bug_and_tells_the_mistake_the_symptom_and_the_fix(name):
    path = ROOT / "mutants" / f"{name}.py"
    tree = ast.parse(path.read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    marked = [number for number, line in enumerate(path.read_text().splitlines(), 1) if "# BUG:" in line]
    assert marked and all(any(node.lineno <= number <= node.end_lineno for node in functions) for number in marked)
    mistake = CATALOGUE[name]
    assert mistake.title and mistake.mistake and mistake.symptom and mistake.fix


# float16 too, by `python -m tools.naming float16` (its numpy arithmetic is slow: kept out of the tests' time)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_every_mutant_is_killed_and_named_right_in_low_precision(dtype):
    names = [name for name in CATALOGUE if name not in FLOAT64_ONLY]
    runs = run_many([f"{MUTANTS}.{name}" for name in names], f"--impl-dtype={dtype}", *OPTIONS)
    survivors = [name for name in names if runs[f"{MUTANTS}.{name}"].returncode != 1 or not runs[f"{MUTANTS}.{name}"].failed()]
    misnamed = {name: runs[f"{MUTANTS}.{name}"].diagnoses() for name in names
                if runs[f"{MUTANTS}.{name}"].diagnoses() != [CATALOGUE[name].title]}
    assert not survivors and not misnamed, f"survivors {survivors}, named wrong or not at all {misnamed}"


def test_the_published_kill_and_diagnosis_matrix_is_current(runs):
    names = list(CATALOGUE)
    matrix = kill_matrix({name: runs[f"{MUTANTS}.{name}"] for name in names})
    assert json.loads(OUTPUT.read_text()) == matrix, "regenerate it: python -m tools.kill_matrix"


def _dump(source):
    """The ast of a function's source without its docstring (comments are not in the ast)."""
    node = ast.parse(textwrap.dedent(source)).body[0]
    if ast.get_docstring(node) is not None:
        node.body = node.body[1:]
    return ast.dump(node)
