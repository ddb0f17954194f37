"""Meta-tests: every hand-written mutant (mutants/) is killed by the suite, and diagnosed right.

Each mutant is the reference with one classic mistake: its module holds only the faulty
functions, and attention_conformance.mutants.complete builds the rest from the reference. The
suite runs once per mutant (tools.kill_matrix.run_suite), and each test below reads those runs.
"""

import ast
import inspect
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from attention_conformance import mistakes
from attention_conformance.mutants import reference_functions
from tools.kill_matrix import MUTANTS as PACKAGE
from tools.kill_matrix import ROOT, function_of, mutant_names, run_many


class Expected(NamedTuple):
    """What the suite must do with a mutant: kill it with `killer`, naming `mistake`."""

    mistake: mistakes.Mistake
    killer: str  # the test named for the property the mistake breaks
    changes: set  # the functions in which the mutant differs from the reference


# mutant (mutants/<name>.py) -> what is expected of it
MUTANTS = {
    "causal_mask_forgotten": Expected(
        mistakes.CAUSAL_MASK_FORGOTTEN, "test_causal_self_attention_ignores_future_positions", {"causal_self_attention"}
    ),
    "unscaled_scores": Expected(
        mistakes.UNSCALED_SCORES, "test_sdpa_scales_scores_by_sqrt_d_k", {"scaled_dot_product_attention"}
    ),
    "keys_not_transposed": Expected(
        mistakes.KEYS_NOT_TRANSPOSED,
        "test_sdpa_transposes_only_the_last_two_axes_of_k",
        {"scaled_dot_product_attention"},
    ),
    "head_size_hard_coded": Expected(
        mistakes.HEAD_SIZE_HARD_CODED, "test_split_heads_gives_each_head_d_model_over_n_heads_features", {"split_heads"}
    ),
    "heads_averaged": Expected(
        mistakes.HEADS_AVERAGED, "test_merge_heads_puts_the_heads_side_by_side", {"merge_heads"}
    ),
    "encoding_concatenated": Expected(
        mistakes.ENCODING_CONCATENATED, "test_embed_adds_the_positional_encoding_to_the_token_rows", {"embed"}
    ),
    "mask_wrong_shape": Expected(
        mistakes.MASK_WRONG_SHAPE,
        "test_causal_mask_is_seq_by_seq_with_minus_inf_above_the_diagonal",
        {"create_causal_mask"},
    ),
    "softmax_wrong_axis": Expected(
        mistakes.SOFTMAX_WRONG_AXIS, "test_sdpa_weights_sum_to_one_over_keys", {"scaled_dot_product_attention"}
    ),
    "mask_after_softmax": Expected(
        mistakes.MASK_AFTER_SOFTMAX,
        "test_sdpa_masked_keys_get_zero_weight_and_rows_still_sum_to_one",
        {"scaled_dot_product_attention"},
    ),
    "cache_loses_history": Expected(
        mistakes.CACHE_LOSES_HISTORY, "test_decode_step_matches_the_full_causal_forward", {"decode_step"}
    ),
}


REFERENCE = "attention_conformance.reference"


@pytest.fixture(scope="session")
def runs():
    """{implementation: Run}: the suite run once on the reference and once on each mutant, two at a time."""
    return run_many([REFERENCE, *(f"{PACKAGE}.{name}" for name in MUTANTS)])


@pytest.fixture
def failed(runs, name):
    """The mutant's failed tests {test id: Outcome}, after checking that its run had no errors."""
    run = runs[f"{PACKAGE}.{name}"]
    errors = [test for test, outcome in run.outcomes.items() if outcome.status == "error"]
    assert run.returncode == 1 and not errors, f"pytest exited with {run.returncode}, errors in {errors}\n{run.output}"
    return run.failed()


def test_the_table_lists_every_mutant_module():
    assert set(MUTANTS) == set(mutant_names())


def test_the_reference_passes_without_a_diagnosis(runs):
    run = runs[REFERENCE]
    assert run.returncode == 0 and run.outcomes and not run.failed(), run.output
    assert "looks like:" not in run.output


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_is_killed_by_a_failing_check_not_only_by_a_raise(failed, name):
    assert any(outcome.by_a_check for outcome in failed.values()), f"no check fails on {name}: {list(failed)}"


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_is_killed_by_its_dedicated_test_which_names_the_mistake(failed, name):
    mistake, dedicated = MUTANTS[name].mistake, MUTANTS[name].killer
    own = {test: outcome for test, outcome in failed.items() if function_of(test) == dedicated}
    assert own, f"{dedicated} does not kill {name}; killed by {list(failed)}"
    messages = [outcome.message for outcome in own.values()]
    assert any(f"looks like: {mistake.title}:" in message for message in messages), "\n\n".join(messages)


@pytest.mark.parametrize("name", MUTANTS)
def test_no_failure_of_the_mutant_names_another_mistake(failed, name):
    mistake = MUTANTS[name].mistake
    wrong = {test: outcome.diagnoses - {mistake.title} for test, outcome in failed.items()}
    assert not any(wrong.values()), {test: titles for test, titles in wrong.items() if titles}


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_holds_only_its_faulty_functions_each_unlike_the_reference(name):
    reference = {function: _dump(inspect.getsource(value)) for function, value in reference_functions().items()}
    tree = ast.parse((ROOT / "mutants" / f"{name}.py").read_text())
    defined = {node.name: _dump(ast.unparse(node)) for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert set(defined) == MUTANTS[name].changes and set(defined) <= set(reference)
    assert all(defined[function] != reference[function] for function in defined), "a function the same as the reference's"
    others = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in others[1:]] == ["complete(globals())"], "the docstring, then only complete()"


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_marks_its_bug_inside_its_functions_and_tells_the_mistake(name):
    path = ROOT / "mutants" / f"{name}.py"
    tree = ast.parse(path.read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    marked = [number for number, line in enumerate(path.read_text().splitlines(), 1) if "# BUG:" in line]
    assert marked and all(any(node.lineno <= number <= node.end_lineno for node in functions) for number in marked)
    docstring = ast.get_docstring(tree)
    assert all(f"\n{section}: " in docstring for section in ("Mistake", "Symptom", "Fix")), docstring


def _dump(source):
    """The ast of a function's source without its docstring (comments are not in the ast)."""
    node = ast.parse(textwrap.dedent(source)).body[0]
    if ast.get_docstring(node) is not None:
        node.body = node.body[1:]
    return ast.dump(node)
