"""create_causal_mask(seq_len) and create_sliding_window_mask(seq_len, window): additive masks,
0.0 where a query sees a key, -inf where it does not."""

import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check

inf = float("inf")


def mask(capability, id, **numbers):
    return Case(id, capability, given=numbers)


@pytest.mark.conformance("create_causal_mask")
@cases(mask("create_causal_mask", "three", seq_len=3))
def test_causal_mask_known_answer_for_three_positions(impl, case):
    expected = [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    check(impl, Call.of(case, impl.dtype), "causal mask", expected=expected)


@pytest.mark.conformance("create_causal_mask")
@cases(
    *(mask("create_causal_mask", f"seq{n}", seq_len=n) for n in (1, 2, 5, 8, 100)),
    kernel=[mask("create_causal_mask", f"seq{n}", seq_len=n) for n in (63, 64, 65, 129, 257, 1000)],
)
def test_causal_mask_is_seq_by_seq_with_minus_inf_above_the_diagonal(impl, case):
    check(impl, Call.of(case, impl.dtype), "causal mask")


@pytest.mark.conformance("create_sliding_window_mask")
@cases(mask("create_sliding_window_mask", "four-by-two", seq_len=4, window=2))
def test_sliding_window_mask_known_answer(impl, case):
    # query i sees itself and the one position before it
    expected = [[0.0, -inf, -inf, -inf], [0.0, 0.0, -inf, -inf], [-inf, 0.0, 0.0, -inf], [-inf, -inf, 0.0, 0.0]]
    check(impl, Call.of(case, impl.dtype), "sliding window mask", expected=expected)


@pytest.mark.conformance("create_sliding_window_mask")
@cases(
    *(mask("create_sliding_window_mask", f"seq{n}-window{w}", seq_len=n, window=w)
      for n, w in ((1, 1), (5, 1), (6, 3), (5, 5), (6, 10), (100, 16))),
)
def test_sliding_window_mask_sees_the_query_and_the_window_before_it(impl, case):
    check(impl, Call.of(case, impl.dtype), "sliding window mask")
