"""CONFORMANCE: an implementation declares its limits; the suite draws within them, skips what they
rule out (saying which key), counts it per callable, and shouts when nothing is left to test."""

import json

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from attention_conformance.declaration import Declaration, DeclarationError
from test_plugin import SUITE, expect_usage_error, run, write

KERNEL = """
from attention_conformance.reference import multi_head_attention, scaled_dot_product_attention

CONFORMANCE = {declaration}
"""


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def declared(pytester, declaration):
    write(pytester, "kernel", KERNEL.format(declaration=declaration))
    return "kernel"


@pytest.mark.parametrize(
    "declaration, error",
    [
        ({"head_dim": [64]}, "unknown key 'head_dim' in CONFORMANCE (known: head_dims, value_dim_equals_key_dim, masks, "
                             "weights, dtypes, max_seq_len)"),
        ({"head_dims": 64}, "CONFORMANCE['head_dims'] must be a non-empty list of positive ints, not 64"),
        ({"head_dims": [64, 0]}, "CONFORMANCE['head_dims'] must be a non-empty list of positive ints, not [64, 0]"),
        ({"masks": "causal-only"}, "CONFORMANCE['masks'] must be one of 'additive', 'causal', 'none', not 'causal-only'"),
        ({"dtypes": ["float8"]}, "CONFORMANCE['dtypes'] names 'float8', not one of float64, float32, float16, bfloat16"),
        ({"dtypes": "float16"}, "CONFORMANCE['dtypes'] must be a non-empty list of dtype names, not 'float16'"),
        ({"value_dim_equals_key_dim": "yes"}, "CONFORMANCE['value_dim_equals_key_dim'] must be True or False, not 'yes'"),
        ({"max_seq_len": -1}, "CONFORMANCE['max_seq_len'] must be a positive int or None, not -1"),
        ([("masks", "causal")], "CONFORMANCE must be a dict, not list"),
    ],
)
def test_a_bad_declaration_is_a_usage_error_naming_the_key(pytester, declaration, error):
    result = run(pytester, f"--impl={declared(pytester, declaration)}")
    expect_usage_error(result, f"ERROR: attention conformance: cannot use the implementation from --impl: 'kernel': {error}")


def test_the_header_prints_the_declaration_and_the_summary_counts_what_it_ruled_out(pytester):
    name = declared(pytester, {"head_dims": [16], "masks": "causal", "max_seq_len": 64})
    result = run(pytester, f"--impl={name}", str(SUITE / "test_attention.py"), "-rs")
    result.stdout.fnmatch_lines(["attention conformance: CONFORMANCE: head_dims=[[]16], masks='causal', max_seq_len=64"])
    result.stdout.fnmatch_lines(["SKIPPED * ruled out by CONFORMANCE: masks='causal' does not take an additive mask"])
    result.stdout.fnmatch_lines(["SKIPPED * ruled out by CONFORMANCE: max_seq_len=64 is shorter than this call's 130 positions"])
    result.stdout.fnmatch_lines(["scaled_dot_product_attention  conforms (* checks passed, * ruled out by CONFORMANCE: "
                                 "masks *, max_seq_len *)"])


def test_cases_adapt_to_the_declared_head_widths(pytester):
    name = declared(pytester, {"head_dims": [32]})
    result = run(pytester, f"--impl={name}", str(SUITE / "test_multi_head.py"), "--impl-report=report.json",
                 "-k", "several_head_splits")
    result.assert_outcomes(passed=7)
    calls = [check["call"] for check in json.loads((pytester.path / "report.json").read_text())["checks"]]
    # 4 heads of d_k = 32, not the case's 16 / 4: d_model follows the declared width
    assert any(call.startswith("multi_head_attention(x=float64[2, 3, 128]") and "n_heads=4" in call for call in calls)


def test_a_declaration_that_rules_out_every_check_is_reported_not_green(pytester):
    name = declared(pytester, {"dtypes": ["float16", "bfloat16"]})
    result = run(pytester, f"--impl={name}", str(SUITE / "test_attention.py"))
    result.stdout.fnmatch_lines(["scaled_dot_product_attention  not tested: CONFORMANCE rules out all * checks (dtypes *)",
                                 "warning: CONFORMANCE rules out every check of scaled_dot_product_attention: nothing "
                                 "of it was tested"])


def test_weights_declared_and_not_returned_fail(pytester):
    write(pytester, "no_weights", "from attention_conformance.reference import scaled_dot_product_attention as right\n\n"
          "CONFORMANCE = {'weights': True}\n\n\ndef scaled_dot_product_attention(q, k, v, mask=None):\n"
          "    return right(q, k, v, mask)[0]\n")
    result = run(pytester, "--impl=no_weights", str(SUITE / "test_attention.py"), "-k", "matches_the_formula")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["  could not read the weights from its result, a ndarray: CONFORMANCE declares "
                                 "weights=True, but the call returned the output alone, not (output, weights)"])


def test_the_declaration_chooses_the_nearest_declared_width_and_keeps_defaults_silent():
    declaration = Declaration.parse({"head_dims": [64, 128]})
    assert declaration.head_dim(100) == 128 and declaration.head_dim(4) == 64 and declaration.head_dim(64) == 64
    assert str(Declaration.parse(None)) == "nothing declared" and str(Declaration.parse({"masks": "additive"})) == "nothing declared"
    with pytest.raises(DeclarationError):
        Declaration.parse({"weights": "sometimes"})
