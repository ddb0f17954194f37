"""CONFORMANCE: an implementation declares its limits; the suite draws within them, skips what they
rule out (saying which key), counts it per callable, and shouts when nothing is left to test."""

import json
from types import SimpleNamespace

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from attention_conformance.cases import kernel_head_dims
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
                             "weights, dtypes, max_seq_len, block_sizes, modifiers, grouped_heads)"),
        ({"head_dims": 64}, "CONFORMANCE['head_dims'] must be a non-empty list of positive ints, a range of them or a "
                            "rule such as {'multiple_of': 8, 'at_most': 256}, not 64"),
        ({"head_dims": [64, 0]}, "CONFORMANCE['head_dims'] must be a non-empty list of positive ints, not [64, 0]"),
        ({"head_dims": range(0, 257, 8)}, "CONFORMANCE['head_dims'] must be a non-empty range of positive ints, "
                                          "not range(0, 257, 8)"),
        ({"head_dims": {"multiple": 8}}, "unknown key 'multiple' in CONFORMANCE['head_dims'] (a rule's keys: "
                                         "multiple_of, at_least, at_most)"),
        ({"head_dims": {"multiple_of": 0}}, "CONFORMANCE['head_dims']['multiple_of'] must be a positive int, not 0"),
        ({"head_dims": {"at_most": 12.5}}, "CONFORMANCE['head_dims']['at_most'] must be a positive int, not 12.5"),
        ({"head_dims": {"at_least": 128, "at_most": 64}}, "CONFORMANCE['head_dims'] = {'at_least': 128, 'at_most': 64} "
                                                          "allows no width"),
        ({"masks": "causal-only"}, "CONFORMANCE['masks'] must be one of 'additive', 'causal', 'none', not 'causal-only'"),
        ({"dtypes": ["float8"]}, "CONFORMANCE['dtypes'] names 'float8', not one of float64, float32, float16, bfloat16"),
        ({"dtypes": "float16"}, "CONFORMANCE['dtypes'] must be a non-empty list of dtype names, not 'float16'"),
        ({"value_dim_equals_key_dim": "yes"}, "CONFORMANCE['value_dim_equals_key_dim'] must be True or False, not 'yes'"),
        ({"max_seq_len": -1}, "CONFORMANCE['max_seq_len'] must be a positive int or None, not -1"),
        ({"block_sizes": [16, 0]}, "CONFORMANCE['block_sizes'] must be a non-empty list of positive ints, not [16, 0]"),
        ({"modifiers": ["alibi"]}, "CONFORMANCE['modifiers'] names 'alibi', not one of softcap, alibi_slopes, sinks"),
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
    result.stdout.fnmatch_lines(["scaled_dot_product_attention *conforms (* checks passed, * ruled out by CONFORMANCE: "
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
    result.stdout.fnmatch_lines(["scaled_dot_product_attention *not tested: CONFORMANCE rules out all * checks (dtypes *)",
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


# Head widths as a rule: a range, or {"multiple_of", "at_least", "at_most"}


@pytest.mark.parametrize("head_dims, shown, data, allowed, refused, nearest", [
    ({"multiple_of": 8, "at_most": 256}, "multiples of 8 up to 256", {"multiple_of": 8, "at_most": 256},
     (8, 64, 256), (4, 12, 264), {4: 8, 13: 16, 100: 96, 1000: 256}),
    (range(8, 257, 8), "multiples of 8 up to 256", {"multiple_of": 8, "at_most": 256},
     (8, 256), (0, 12, 264), {100: 96}),
    ({"multiple_of": 2}, "multiples of 2", {"multiple_of": 2}, (2, 64, 1002), (1, 63), {63: 62, 1: 2}),
    ({"at_least": 16, "at_most": 128}, "widths from 16 to 128", {"at_least": 16, "at_most": 128},
     (16, 17, 128), (15, 129), {4: 16, 300: 128, 100: 100}),
    ({"multiple_of": 8, "at_least": 60, "at_most": 250}, "multiples of 8 from 64 to 248",
     {"multiple_of": 8, "at_least": 64, "at_most": 248}, (64, 248), (56, 60, 250, 256), {4: 64, 1000: 248}),
    (range(3, 20, 4), "[3, 7, 11, 15, 19]", [3, 7, 11, 15, 19], (3, 19), (4, 23), {5: 3, 6: 7}),
])
def test_head_widths_may_be_a_rule_shown_short_and_written_as_data(head_dims, shown, data, allowed, refused, nearest):
    declaration = Declaration.parse({"head_dims": head_dims})
    assert str(declaration) == f"head_dims={shown}" and declaration.items() == {"head_dims": data}
    assert all(width in declaration.head_dims for width in allowed)
    assert not any(width in declaration.head_dims for width in refused)
    assert {preferred: declaration.head_dim(preferred) for preferred in nearest} == nearest
    reason = declaration.rules_out({"head_dim": refused[-1]}, "float64")
    assert reason == f"head_dims={shown} does not include d_k={refused[-1]}"


def test_a_rule_draws_its_widths_up_to_a_bound_and_reaches_the_kernel_profiles_256():
    up_to_256 = Declaration.parse({"head_dims": {"multiple_of": 8, "at_most": 256}})
    even = Declaration.parse({"head_dims": {"multiple_of": 2}})
    up_to_128 = Declaration.parse({"head_dims": {"multiple_of": 8, "at_most": 128}})
    assert up_to_256.head_dims.choices() == tuple(range(8, 257, 8))
    assert even.head_dims.choices(64) == tuple(range(2, 65, 2))
    assert Declaration.parse({"head_dims": {"at_least": 512}}).head_dims.choices(256) == (512,)
    assert kernel_head_dims(up_to_256) == kernel_head_dims(even) == (32, 64, 128, 256)
    assert kernel_head_dims(up_to_128) == kernel_head_dims(Declaration()) == (32, 64, 128)


def test_a_head_width_rule_is_printed_short_and_drawn_within(pytester):
    name = declared(pytester, {"head_dims": {"multiple_of": 8, "at_most": 256}, "value_dim_equals_key_dim": True})
    result = run(pytester, f"--impl={name}", str(SUITE / "test_attention.py"), "--impl-report=report.json")
    result.stdout.fnmatch_lines(["attention conformance: CONFORMANCE: head_dims=multiples of 8 up to 256, "
                                 "value_dim_equals_key_dim=True"])
    assert result.ret == pytest.ExitCode.OK
    report = json.loads((pytester.path / "report.json").read_text())
    assert report["settings"]["declaration"]["head_dims"] == {"multiple_of": 8, "at_most": 256}
    # the 3-d case's d_k = 4 moves to the nearest multiple of 8
    calls = [check["call"] for check in report["checks"]]
    assert any(call.startswith("scaled_dot_product_attention(q=float64[2, 3, 8]") for call in calls)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # the suite's marker, registered by --impl runs
def test_explored_cases_draw_the_head_width_from_the_rule():
    hypothesis = pytest.importorskip("hypothesis")
    from attention_conformance.test_explore import head_dim

    impl, drawn = SimpleNamespace(declaration=Declaration.parse({"head_dims": {"multiple_of": 8, "at_most": 32}})), set()

    @hypothesis.settings(max_examples=50, database=None)
    @hypothesis.given(hypothesis.strategies.data())
    def draw(data):
        drawn.add(head_dim(impl, data))

    draw()
    assert drawn == {8, 16, 24, 32}


def test_an_explored_run_takes_a_head_width_rule(pytester):
    pytest.importorskip("hypothesis")
    name = declared(pytester, {"head_dims": {"multiple_of": 8, "at_most": 32}, "value_dim_equals_key_dim": True})
    result = run(pytester, f"--impl={name}", "--impl-explore=10", str(SUITE / "test_explore.py"), "-k", "sdpa")
    result.assert_outcomes(passed=1)


def test_weights_declared_false_and_returned_fail(pytester):
    write(pytester, "with_weights", "from attention_conformance.reference import scaled_dot_product_attention\n\n"
          "CONFORMANCE = {'weights': False}\n")
    result = run(pytester, "--impl=with_weights", str(SUITE / "test_attention.py"), "--impl-report=report.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["  checked: output",
                                 "  CONFORMANCE declares weights=False (the output alone), but the call returned "
                                 "a tuple of 2 items: return the output alone, or declare weights=True if it "
                                 "returns (output, weights)",
                                 "  reproduce:"])
    checks = json.loads((pytester.path / "report.json").read_text())["checks"]
    assert checks and all(check["outcome"] == "failed" and check["failure"] == "not an array" for check in checks)
