"""Each check's findings as data: test properties in --junitxml, and the --impl-report document."""

import json
import xml.etree.ElementTree as ElementTree

import numpy  # noqa: F401  (imported before any pytester snapshot of sys.modules: see test_plugin.py)
import pytest

from attention_conformance.records import PREFIX
from test_plugin import SUITE, run, write

UNSCALED = "attention_conformance.mutants.unscaled_scores"


@pytest.fixture(autouse=True)
def isolated(pytester, monkeypatch):
    monkeypatch.delenv("ATTENTION_IMPL", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.syspathinsert()


def test_every_check_records_its_findings_as_junit_properties(pytester):
    result = run(pytester, f"--impl={UNSCALED}", str(SUITE / "test_attention.py"), "--junitxml=junit.xml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    cases = ElementTree.parse(pytester.path / "junit.xml").getroot().iter("testcase")
    properties = {case.get("name"): {p.get("name")[len(PREFIX):]: p.get("value") for p in case.iter("property")}
                  for case in cases}
    scaling = properties["test_sdpa_scales_scores_by_sqrt_d_k[d_k-16]"]
    assert scaling["capability"] == "scaled_dot_product_attention"
    assert scaling["outcome"] == "failed" and scaling["failure"] == "value"
    assert scaling["seed"] == "12" and scaling["call"].startswith("scaled_dot_product_attention(q=float64[2, 3, 16]")
    assert float(scaling["worst"]) > 1e6 and scaling["diagnosis"] == "scores not scaled"
    sums = properties["test_sdpa_weights_sum_to_one_over_keys[ones]"]  # v = 1: any scale sums to one
    assert sums["outcome"] == "passed" and float(sums["worst"]) <= 1 and "diagnosis" not in sums


def test_the_report_document_holds_settings_statuses_and_records(pytester, suite_tests):
    write(pytester, "only_softmax", "from attention_conformance.reference import softmax")
    result = run(pytester, "--impl=only_softmax", "--impl-dtype=float32", "--impl-report=out/report.json")
    softmax = suite_tests["test_softmax.py"]
    result.assert_outcomes(passed=softmax, skipped=suite_tests.total() - softmax)
    document = json.loads((pytester.path / "out" / "report.json").read_text())
    assert document["implementation"]["name"] == "only_softmax"
    assert document["implementation"]["file"] == str(pytester.path / "only_softmax.py")
    assert document["settings"]["dtype"] == "float32" and document["settings"]["timeout"] == 60
    assert document["capabilities"]["softmax"]["status"].startswith("conforms")
    assert document["capabilities"]["softmax"]["outcomes"] == {"passed": softmax}
    assert document["capabilities"]["decode_step"] == {"provided": False, "status": "not provided",
                                                       "outcomes": {"skipped": 3}, "diagnosis": None}
    checks = {check["id"].rpartition("::")[2]: check for check in document["checks"]}
    known = checks["test_softmax_known_answers[known]"]
    assert known["capability"] == "softmax" and known["outcome"] == "passed" and known["worst"] <= 1
    skipped = checks["test_decode_step_matches_the_full_causal_forward[2-5-8-2]"]
    assert skipped["outcome"] == "skipped" and skipped["message"] == "only_softmax does not provide decode_step"


def test_answers_are_a_digest_of_every_number_of_every_answer_and_opaque_for_anything_else():
    from attention_conformance.records import OPAQUE, Record

    def answers(*results):
        record = Record("scaled_dot_product_attention")
        for result in results:
            record.answered(result)
        return record.answers

    out, weights = numpy.arange(6.0).reshape(2, 3), numpy.arange(9.0).reshape(3, 3)
    grads = {"x": out, "params": {"w_q": weights, "w_k": weights}}
    assert answers((out, weights)) == answers((out.copy(), weights.copy())) != answers((out, weights.T))
    assert answers(grads) == answers({"params": {"w_k": weights, "w_q": weights}, "x": out})  # keys, not their order
    assert answers(grads) != answers({**grads, "x": out + 1e-15 * (out == 5)})  # one last bit of one number
    assert answers((out,), (weights,)) != answers((weights,), (out,))  # the order of the calls
    assert answers(out, {"x": object()}) == answers({"x": [object()]}) == OPAQUE
    assert answers(out.astype(numpy.float32)) != answers(out)
