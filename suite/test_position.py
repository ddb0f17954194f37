"""positional_encoding(seq_len, d_model) and embed(tokens, embedding)."""

import math

import numpy as np
import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw
from attention_conformance.checks import as_array, expect_close, expect_shape
from attention_conformance.mistakes import ENCODING_CONCATENATED


@pytest.mark.conformance("positional_encoding")
def test_positional_encoding_known_answer_for_two_positions(impl, tol):
    call = Call("positional_encoding", 2, 4)
    # position 0: sin 0 = 0, cos 0 = 1; position 1: angles 1 / 10000^0 = 1 and 1 / 10000^(2/4) = 0.01
    expected = [[0.0, 1.0, 0.0, 1.0], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)]]
    expect_close(call.run(impl), expected, call, "encoding", tol)


@pytest.mark.conformance("positional_encoding")
@pytest.mark.parametrize("seq_len, d_model", [(16, 8), (7, 6), (50, 512)])
def test_positional_encoding_matches_the_formula(impl, tol, seq_len, d_model):
    call = Call("positional_encoding", seq_len, d_model)
    got = as_array(call.run(impl), call, "encoding")
    expect_shape(got, (seq_len, d_model), call, "encoding")
    expect_close(got, definitions.positional_encoding(seq_len, d_model), call, "encoding", tol)


@pytest.mark.conformance("embed")
@pytest.mark.parametrize("batch, seq, vocab, d_model", [(2, 5, 11, 8), (1, 3, 4, 6)])
def test_embed_adds_the_positional_encoding_to_the_token_rows(impl, dtype, tol, batch, seq, vocab, d_model):
    (table,) = draw(40, dtype, (vocab, d_model))
    tokens = np.arange(batch * seq).reshape(batch, seq) * 7 % vocab  # every row of the table, in a mixed order
    call = Call("embed", tokens, table, seed=40)
    got = as_array(call.run(impl), call, "embeddings")

    def diagnose(got):
        if got.shape == (batch, seq, 2 * d_model):
            return ENCODING_CONCATENATED.explain(f"the width doubled to {2 * d_model}")
        return None

    expect_shape(got, (batch, seq, d_model), call, "embeddings", diagnose)
    expect_close(got, definitions.embed(tokens, table), call, "embeddings", tol)
