"""The zoo (tests/zoo): variant bugs the catalogue does not hold as such. Each is killed by a
failing check of its values; what the suite names it, by measurement or by a look-alike of the
catalogue with the same numbers, is right; where the evidence does not single the mistake out,
nothing is named. The suite runs once per variant and dtype (zoo_runs)."""

import pytest

from tools.kill_matrix import OPTIONS, REFERENCE, reaching, reference_passes, run_many
from zoo import EXPECTED

ZOO = "tests.zoo"


def scaled(words):
    return f"scores scaled by {words} instead of 1/sqrt(d_k)"


NOT_APPLIED = "the mask is not applied (every query sees every key)"
# What the suite names each variant (every name of its failures and summary), by measurement
# unless said.
NAMED = {
    "scale_by_value_width": scaled("1/sqrt(d_v)"),
    "scale_by_query_count": scaled("1/sqrt(the number of queries)"),
    "scale_by_key_count": scaled("1/sqrt(the number of keys)"),
    "scale_hard_coded_eighth": scaled("a constant 1/sqrt(64)"),
    "causal_sees_next_position": "each position also sees the next one (an off-by-one in the mask)",
    "window_one_narrower": "a sliding window 1 position narrower than the contract's",
    "window_two_wider": "a sliding window 2 positions wider than the contract's",
    "causal_first_head_only": f"{NOT_APPLIED}, except in head 0",
    "mask_batch_row_zero_only": f"{NOT_APPLIED}, except in batch row 0",
    "values_from_query_weights": "w_q where w_v belongs",
    "gqa_keys_from_value_weights": "w_v where w_k belongs",
    "rope_base_1000": "rotary frequencies 1000^(-2i/d), not 10000^(-2i/d)",
    "rope_base_500000": "rotary frequencies 500000^(-2i/d), not 10000^(-2i/d)",
    "rope_positions_shifted_by_one": "rotary positions shifted by +1",
    "encoding_base_1000": "encoding frequencies 1000^(-2i/d), not 10000^(-2i/d)",
    "encoding_concatenated_halves": "the encoding in the concatenated layout [sin | cos], not sin and cos interleaved",
    # by a look-alike of the catalogue: the same numbers, in other code
    "scale_applied_twice": "scores divided by d_k, not sqrt(d_k)",
    "scale_folded_into_w_q_twice": "scores divided by d_k, not sqrt(d_k)",
    "mha_scaled_by_model_width_inline": "scores scaled by the model's width, not the head's",
    "torch_scores_multiplied": "scores multiplied by sqrt(d_k), not divided",
    "causal_hides_diagonal_tril": "causal mask hides the diagonal",
    "cross_keys_values_from_x_from_scratch": "cross-attention takes its keys from the queries' input",
    "gqa_heads_strided": "features dealt to the heads in turn, not in blocks",
    "encoding_cos_first": "sin and cos swapped in the positional encoding",
    "rope_turns_clockwise": "rotary embedding turns the wrong way",
    "rope_interleaved_complex": "rotary embedding in the interleaved layout",
    "encoding_positions_from_one": "positions counted from 1",
    "cross_mask_ignored_from_scratch": NOT_APPLIED,  # two look-alikes of the catalogue compute it: measured
    "decode_step_keeps_one_step": "a sliding window of 2 positions where the mask is causal",
    "accumulates_in_float16": "computing in float16 inside a float64 run",
    "grad_dk_unscaled_einsum": "the backward leaves out the scores' factor 1/sqrt(d_k)",
    # by a look-alike of the catalogue (the gradients of the backward pass)
    "grad_dq_dk_scaled_by_d_k": "query and key gradients scaled twice",
    "grad_broadcast_kv_not_reduced_einsum": "gradients of broadcast inputs not summed back",
    # serving (contract v3), by measurement or a look-alike of the catalogue
    "lse_base_2_tiled": "log-sum-exp in base 2",
    "paged_ids_wrap_at_65536": "block ids kept in 16 bits",
    "paged_pool_in_sequence_order": "reads blocks that its row of the block table does not name",
    "merge_divides_by_empty_total": "merging two empty states gives NaN",
    "varlen_document_mask_query_ahead": "each query also sees the key after its own (the causal mask one key off)",
    "varlen_unseen_query_nan": "a query that sees no key gets NaN",
}
# Measurements say what they measured in more than one true way (the mask inverted, keep and hide swapped).
ALSO_TRUE = {
    # each check says what it measured; the summary names the catalogue's mistake that title is
    "keys_from_query_weights": {"w_q where w_k belongs", "keys projected with the query weights"},
    "output_projection_transposed": {"w_o transposed", "projections applied as x @ w.T"},
    "padding_mask_inverted": {"the mask is inverted (each query sees exactly the keys it must not)",
                              "keep and hide swapped in the mask",
                              # a mask that keeps every key, inverted, hides them all
                              "no query sees any key (the output does not depend on the keys and values)"},
    # each check says what it measured, the summary names nothing
    "decode_history_stacked_on_batch_axis": {"queries do not see keys the contract shows them",
                                             "queries see other keys than the contract's"},
    "chunk_sees_next_position": {"each position also sees the next one (an off-by-one in the mask)",
                                 "queries see keys the contract hides"},
    # dv from unmasked weights: measured as gradient on masked keys; where dominant keys leave the
    # masked ones little weight, dq and dk of the catalogue's mistake are within rounding of right
    # ones in low precision, and it is named too: both are true of this backward
    "grad_dv_from_unmasked_weights": {"gradient reaches keys the mask hides",
                                      "backward recomputes the weights without the mask"},
}


def zoo_runs(*options):
    """{impl: Run}: the suite on every variant, on the checks that can fail on it, as the catalogue's
    runs are (tools.kill_matrix.reaching): the checks of the callables its bug breaks and of those
    reaching them, and the first check of every other callable (each other one a variant provides
    passes: tests/zoo says so); whole where the reference does not pass."""
    reference = run_many([REFERENCE], *options)[REFERENCE]
    select = None if not reference_passes(reference) else {
        f"{ZOO}.{name}": reaching(reference, set(expected["callables"])) for name, expected in EXPECTED.items()}
    return run_many([f"{ZOO}.{name}" for name in EXPECTED], *options, select=select)


@pytest.fixture(scope="session")
def runs():
    return zoo_runs(*OPTIONS)


def test_every_variant_of_the_zoo_has_an_expectation_and_each_is_named():
    assert set(NAMED) | set(ALSO_TRUE) == set(EXPECTED)
    assert all(title is not None for title in NAMED.values())


@pytest.mark.parametrize("name", EXPECTED)
def test_variant_is_killed_by_a_value_check_and_never_named_wrong(runs, name):
    run = runs[f"{ZOO}.{name}"]
    assert run.returncode == 1 and any(outcome.by_a_check for outcome in run.failed().values()), run.output[-3000:]
    failing = {test.partition("::")[0] for test in run.failed()}
    assert failing, run.output[-3000:]
    if name in ALSO_TRUE:
        assert set(run.diagnoses()) <= ALSO_TRUE[name], run.diagnoses()
    else:
        assert run.diagnoses() == [NAMED[name]], run.output[-4000:]


# How many variants each low precision names (the README says so): rounding hides the others, and
# numpy's einsum, which has no bfloat16, stops the two einsum backward variants there.
NAMED_IN = {"float16": 44, "bfloat16": 37}


@pytest.mark.parametrize("dtype", NAMED_IN)
def test_no_variant_is_named_wrong_in_low_precision(dtype):
    # Rounding may hide what float64 shows (silence is allowed), never turn it into another name.
    runs = zoo_runs(*OPTIONS, f"--impl-dtype={dtype}")
    wrong, named_right = {}, 0
    for name in EXPECTED:
        allowed = ALSO_TRUE.get(name) or {NAMED[name]}
        named = set(runs[f"{ZOO}.{name}"].diagnoses())
        if not named <= allowed:
            wrong[name] = sorted(named)
        named_right += bool(named) and named <= allowed
    assert not wrong, wrong
    assert named_right >= NAMED_IN[dtype]
