"""positional_encoding(seq_len, d_model) and embed(tokens, embedding)."""

import math

import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check


def encoding(id, seq_len, d_model):
    return Case(id, "positional_encoding", given=dict(seq_len=seq_len, d_model=d_model))


@pytest.mark.conformance("positional_encoding")
@cases(encoding("two-positions", 2, 4))
def test_positional_encoding_known_answer_for_two_positions(impl, case):
    # position 0: sin 0 = 0, cos 0 = 1; position 1: angles 1 / 10000^0 = 1 and 1 / 10000^(2/4) = 0.01
    expected = [[0.0, 1.0, 0.0, 1.0], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]]
    check(impl, Call.of(case, impl.dtype), "encoding", expected=expected)


@pytest.mark.conformance("positional_encoding")
@cases(encoding("16-8", 16, 8), encoding("7-6", 7, 6), encoding("50-512", 50, 512), encoding("300-64", 300, 64))
def test_positional_encoding_matches_the_formula(impl, case):
    check(impl, Call.of(case, impl.dtype), "encoding")


@pytest.mark.conformance("embed")
@cases(
    Case("2-5-11-8", "embed", dict(seed=40, batch=2, seq=5, vocab=11, d_model=8), draw="token_inputs"),
    Case("1-3-4-6", "embed", dict(seed=40, batch=1, seq=3, vocab=4, d_model=6), draw="token_inputs"),
)
def test_embed_adds_the_positional_encoding_to_the_token_rows(impl, case):
    check(impl, Call.of(case, impl.dtype), "embeddings")
