"""Meta-tests of the catalogue: every hand-written mutant (mutants/) is killed by a failing check
of its behaviour, the suite names its mistake (in a failure or in the end-of-run summary) in every
dtype, and no failure or summary names another one. The suite runs once per mutant and dtype in
the whole session, pytest-xdist's workers sharing the runs (tools.kill_matrix.runs_in)."""

import ast
import functools
import inspect
import json
import textwrap

import pytest

from attention_conformance import diagnosis
from attention_conformance.mutants import reference_functions
from tools.kill_matrix import (DTYPES, FLOAT64_ONLY, MUTANTS, OPTIONS, OUTPUT, REFERENCE, ROOT, Run, kill_matrix,
                               mutant_names, reference_passes, run_suite, runs_in)

CATALOGUE = diagnosis.catalogue()
LOW_PRECISION = [dtype for dtype in DTYPES if dtype != "float64"]


@pytest.fixture(scope="session")
def runs_of(once):
    """runs_of(dtype) -> {implementation: Run}, made once in the session: the reference's whole run, and
    each mutant's: whole in float64, on the checks that can fail on it in the other dtypes."""

    @functools.cache
    def runs_of(dtype):
        def produce():
            return {impl: run.as_data() for impl, run in runs_in(dtype, CATALOGUE, whole=dtype == "float64").items()}

        return {impl: Run.from_data(data) for impl, data in once(f"runs-{dtype}", produce).items()}

    return runs_of


@pytest.fixture(scope="session")
def runs(runs_of):
    """{implementation: Run}: the whole suite once on the reference and once on each mutant, in float64."""
    return runs_of("float64")


@pytest.fixture
def run(runs, name):
    """The mutant's run, after checking that it has no errors."""
    found = runs[f"{MUTANTS}.{name}"]
    errors = [test for test, outcome in found.outcomes.items() if outcome.status == "error"]
    assert found.returncode == 1 and not errors, f"exit {found.returncode}, errors in {errors}\n{found.output[-3000:]}"
    return found


def test_the_catalogue_holds_every_mutant_module_thirty_of_v1_ten_of_the_backward_pass_two_per_serving_callable():
    assert set(CATALOGUE) == set(mutant_names())
    v2 = {"grouped_query_attention", "cross_attention", "apply_rope", "decode_chunk", "create_sliding_window_mask"}
    assert sum(not mistake.functions & v2 for mistake in CATALOGUE.values()) >= 30
    for callable_ in v2:
        assert sum(callable_ in mistake.functions for mistake in CATALOGUE.values()) >= 2, callable_
    # contract v3: at least ten mistakes of the backward pass, in the reference's backward functions
    backward = {name for name, function in reference_functions().items() if function.__module__.endswith(".backward")}
    assert sum(mistake.functions <= backward for mistake in CATALOGUE.values()) >= 10
    # contract v3, serving: at least two mistakes of each of its callables
    for callable_ in ("attention_with_lse", "merge_attention_states"):
        assert sum(mistake.functions == {callable_} for mistake in CATALOGUE.values()) >= 2, callable_
    # and of packed batches, in the reference's packed module (varlen_attention and its mask)
    packed = {name for name, function in reference_functions().items() if function.__module__.endswith(".packed")}
    assert sum(mistake.functions <= packed for mistake in CATALOGUE.values()) >= 5
    # and of paged caches (paged_attention)
    assert sum(mistake.functions == {"paged_attention"} for mistake in CATALOGUE.values()) >= 5
    # and of the score modifiers (modified_attention): soft-capping, ALiBi, sinks
    assert sum(mistake.functions == {"modified_attention"} for mistake in CATALOGUE.values()) >= 5


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


# Each mutant runs the checks that can fail on it (tools.kill_matrix.reaching, which says why that
# kills and names it as the whole suite would), provided that the reference passes the whole suite
# in the dtype: asserted first.
@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_every_mutant_is_killed_and_named_right_in_low_precision(runs_of, dtype):
    runs = runs_of(dtype)
    assert reference_passes(runs[REFERENCE]) and not runs[REFERENCE].diagnoses(), runs[REFERENCE].output[-3000:]
    names = [name for name in CATALOGUE if name not in FLOAT64_ONLY]
    survivors = [name for name in names if not runs[f"{MUTANTS}.{name}"].killed()]
    misnamed = {name: runs[f"{MUTANTS}.{name}"].diagnoses() for name in names
                if runs[f"{MUTANTS}.{name}"].diagnoses() != [CATALOGUE[name].title]}
    assert not survivors and not misnamed, f"survivors {survivors}, named wrong or not at all {misnamed}"


@pytest.mark.parametrize("dtype", LOW_PRECISION)
def test_computing_in_float32_passes_below_float64(runs_of, dtype):
    # Computing in float32 is right in a float32 run, and more precise than a float16 or bfloat16 one.
    for name in FLOAT64_ONLY:
        run = runs_of(dtype)[f"{MUTANTS}.{name}"]
        assert run.returncode == 0 and not run.failed() and not run.diagnoses(), run.output[-3000:]


def test_a_mutant_on_the_checks_that_can_fail_fails_and_is_named_as_on_the_whole_suite(runs_of):
    # The mutant changes merge_heads only: the run left out the checks of softmax, the masks, scaled
    # dot-product attention, split_heads and the positions, and it ran in the process of other runs
    # (tools.runner); the whole suite runs here in a process of its own.
    impl = f"{MUTANTS}.heads_averaged"
    part, whole = runs_of("float32")[impl], run_suite(impl, "--impl-dtype=float32", *OPTIONS)
    assert len(part.outcomes) < len(whole.outcomes) and whole.killed()
    assert part.failed() == whole.failed() and part.summary == whole.summary


def test_the_published_kill_and_diagnosis_matrix_is_current(runs_of):
    matrix = kill_matrix({dtype: {name: runs_of(dtype)[f"{MUTANTS}.{name}"] for name in CATALOGUE}
                          for dtype in DTYPES})
    assert json.loads(OUTPUT.read_text()) == matrix, "regenerate it: python -m tools.kill_matrix"


def _dump(source):
    """The ast of a function's source without its docstring (comments are not in the ast)."""
    node = ast.parse(textwrap.dedent(source)).body[0]
    if ast.get_docstring(node) is not None:
        node.body = node.body[1:]
    return ast.dump(node)
