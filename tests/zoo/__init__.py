"""The zoo: variant bugs that are not in the catalogue, the test bed for the measuring instruments.

The catalogue (attention_conformance.mutants) names a failing implementation by asking each of
its 84 mistakes for the same answer; a bug it does not hold (other numbers, other callables,
other code shapes, other frameworks) gets no name from it. The instruments (suite/measure.py)
name a mistake from measurements instead: what the scores are scaled by, which keys each query
sees, which parameter plays which role, in what precision it computes. Each module here is a
whole implementation of part of the contract, written from scratch or on the reference's pieces,
with one bug (its line marked `# BUG:`), and a docstring: a title, `Bug:` in a learner's words,
`Measured:` what the instruments should find, in numbers. Run the kit on one from the repository
root: `python -m pytest --impl=tests.zoo.scale_by_value_width`; each must fail.

A module may also expose correct callables it imports from the reference (split_heads, softmax,
...): the kit tests those too, and they pass.

EXPECTED maps each module to
- "callables": the contract callables its bug breaks (every other one it provides passes);
- "family": "scale", "visibility", "parameters", "heads", "positions", "precision", "gradients" or "serving";
- "measured": what the instrument should find, in this vocabulary:
  - "scale": the factor the scores are multiplied by where the contract has 1/sqrt(d_k), as an
    expression of the sizes (d_k, d_v, d_model; Lq the queries, Lk the keys) or a number;
  - "sees": which keys query i sees, in positions ("query i sees keys 0..i+1"), where the
    contract has keys 0..i (causal), i-window+1..i (window) or those the mask keeps;
  - "where": the part of the call the bug touches, when not all of it ("head 0", "batch row 0");
  - "role" and "computed_from": the parameter or input whose part is played by another
    ({"role": "w_k", "computed_from": "w_q"}); "transposed": True when it is used transposed;
  - "heads": which columns of the weights a head reads;
  - "rope_base", "rotation", "encoding": what the position code computes instead;
  - "accumulates_in": the dtype its arithmetic is done in;
  - "factor", "masked keys", "shape": what a gradient is instead (measure_gradients.py): a constant
    times the contract's, not 0 on keys the mask hides, of the broadcast shape;
  - "lse factor", "NaN": what a serving callable computes instead (measure_serving.py,
    measure_packed.py): the lse a constant times the natural one, NaN at the queries that see no
    key or whose sides are empty; "sees" for a packed query, in its own sequence's keys.
"""

SDPA = "scaled_dot_product_attention"
MHA = "multi_head_attention"
CAUSAL = "causal_self_attention"
GQA = "grouped_query_attention"
CROSS = "cross_attention"

EXPECTED = {
    # serving (contract v3): the log-sum-exp and the merge of partial results
    "lse_base_2_tiled": {
        "callables": ["attention_with_lse"], "family": "serving", "measured": {"lse factor": "1/ln 2"}},
    "merge_divides_by_empty_total": {
        "callables": ["merge_attention_states"], "family": "serving", "measured": {"NaN": "both sides empty"}},
    "varlen_document_mask_query_ahead": {
        "callables": ["varlen_attention"], "family": "serving",
        "measured": {"sees": "query i of a sequence sees its keys 0..i+Lk-Lq+1"}},
    "varlen_unseen_query_nan": {
        "callables": ["varlen_attention"], "family": "serving", "measured": {"NaN": "queries that see no key"}},
    "paged_ids_wrap_at_65536": {
        "callables": ["paged_attention"], "family": "serving", "measured": {"reads": "blocks its row does not name"}},
    "paged_pool_in_sequence_order": {
        "callables": ["paged_attention"], "family": "serving", "measured": {"reads": "blocks its row does not name"}},
    # gradients (contract v3): the backward pass
    "grad_dk_unscaled_einsum": {
        "callables": [SDPA + "_backward"], "family": "gradients", "measured": {"factor": "dk: sqrt(d_k)"}},
    "grad_dq_dk_scaled_by_d_k": {
        "callables": [SDPA + "_backward"], "family": "gradients", "measured": {"factor": "dq, dk: 1/sqrt(d_k)"}},
    "grad_dv_from_unmasked_weights": {
        "callables": [SDPA + "_backward"], "family": "gradients", "measured": {"masked keys": "dv not 0"}},
    "grad_broadcast_kv_not_reduced_einsum": {
        "callables": [SDPA + "_backward"], "family": "gradients", "measured": {"shape": "(2, 3, 5, d) for (2, 1, 5, d)"}},
    # scale: the factor of the scores
    "scale_by_value_width": {
        "callables": [SDPA], "family": "scale", "measured": {"scale": "1/sqrt(d_v)"}},
    "scale_by_query_count": {
        "callables": [SDPA, MHA, CAUSAL], "family": "scale", "measured": {"scale": "1/sqrt(Lq)"}},
    "scale_by_key_count": {
        "callables": [SDPA, CROSS], "family": "scale", "measured": {"scale": "1/sqrt(Lk)"}},
    "scale_applied_twice": {
        "callables": [SDPA, MHA, CAUSAL, GQA], "family": "scale", "measured": {"scale": "1/d_k"}},
    "scale_hard_coded_eighth": {
        "callables": [SDPA, "decode_step", "decode_chunk"], "family": "scale",
        "measured": {"scale": "0.125 = 1/sqrt(64), whatever d_k"}},
    "mha_scaled_by_model_width_inline": {
        "callables": [MHA, CAUSAL], "family": "scale", "measured": {"scale": "1/sqrt(d_model)"}},
    "scale_folded_into_w_q_twice": {
        "callables": [MHA, CAUSAL, "decode_step", "decode_chunk"], "family": "scale",
        "measured": {"scale": "1/d_k", "where": "the layers (scaled_dot_product_attention is right)"}},
    "torch_scores_multiplied": {
        "callables": [SDPA], "family": "scale", "measured": {"scale": "sqrt(d_k)"}},
    # visibility: which keys each query sees
    "causal_sees_next_position": {
        "callables": ["create_causal_mask", CAUSAL], "family": "visibility",
        "measured": {"sees": "query i sees keys 0..i+1"}},
    "window_one_narrower": {
        "callables": ["create_sliding_window_mask"], "family": "visibility",
        "measured": {"sees": "query i sees keys i-window+2..i (window - 1 positions)"}},
    "window_two_wider": {
        "callables": ["create_sliding_window_mask"], "family": "visibility",
        "measured": {"sees": "query i sees keys i-window-1..i (window + 2 positions)"}},
    "causal_first_head_only": {
        "callables": [MHA, CAUSAL], "family": "visibility",
        "measured": {"sees": "heads 1..n_heads-1: query i sees every key 0..Lk-1",
                     "where": "head 0 is masked, no other"}},
    "mask_batch_row_zero_only": {
        "callables": [SDPA, MHA, CAUSAL, CROSS], "family": "visibility",
        "measured": {"sees": "batch rows 1..: query i sees every key 0..Lk-1",
                     "where": "batch row 0 is masked, no other"}},
    "cross_mask_ignored_from_scratch": {
        "callables": [CROSS], "family": "visibility",
        "measured": {"sees": "query i sees every context key 0..Lk-1, padded ones included"}},
    "causal_hides_diagonal_tril": {
        "callables": [CAUSAL], "family": "visibility",
        "measured": {"sees": "query i sees keys 0..i-1 (query 0 none: NaN)"}},
    "padding_mask_inverted": {
        "callables": [SDPA, MHA, CAUSAL], "family": "visibility",
        "measured": {"sees": "query i sees exactly the keys the mask hides (causal: i+1..Lk-1)"}},
    "decode_history_stacked_on_batch_axis": {
        "callables": ["decode_step", "decode_chunk"], "family": "visibility",
        "measured": {"sees": "batch row b's history holds positions of other batch rows",
                     "where": "batches of 2 or more rows"}},
    "decode_step_keeps_one_step": {
        "callables": ["decode_step"], "family": "visibility",
        "measured": {"sees": "step t sees positions t-1..t"}},
    "chunk_sees_next_position": {
        "callables": ["decode_chunk"], "family": "visibility",
        "measured": {"sees": "new query i (position t+i) sees keys 0..t+i+1"}},
    # parameters: which parameter plays which part
    "keys_from_query_weights": {
        "callables": [MHA, CAUSAL], "family": "parameters", "measured": {"role": "w_k", "computed_from": "w_q"}},
    "output_projection_transposed": {
        "callables": [MHA, CAUSAL, GQA, CROSS], "family": "parameters",
        "measured": {"role": "w_o", "transposed": True}},
    "values_from_query_weights": {
        "callables": [MHA, "decode_step", "decode_chunk"], "family": "parameters",
        "measured": {"role": "w_v", "computed_from": "w_q"}},
    "cross_keys_values_from_x_from_scratch": {
        "callables": [CROSS], "family": "parameters", "measured": {"role": "context", "computed_from": "x"}},
    "gqa_keys_from_value_weights": {
        "callables": [GQA], "family": "parameters", "measured": {"role": "w_k", "computed_from": "w_v"}},
    # heads, positions, precision
    "gqa_heads_strided": {
        "callables": [GQA], "family": "heads",
        "measured": {"heads": "query head h reads columns h, h + n_heads, ... of w_q; key/value head g columns "
                              "g, g + n_kv_heads, ... of w_k and w_v"}},
    "rope_base_1000": {
        "callables": ["apply_rope"], "family": "positions", "measured": {"rope_base": 1000}},
    "encoding_cos_first": {
        "callables": ["positional_encoding", "embed"], "family": "positions",
        "measured": {"encoding": "PE[p, 2i] = cos(angle), PE[p, 2i+1] = sin(angle)"}},
    "rope_turns_clockwise": {
        "callables": ["apply_rope"], "family": "positions", "measured": {"rotation": "-p * theta_i"}},
    "rope_base_500000": {
        "callables": ["apply_rope"], "family": "positions", "measured": {"rope_base": 500000}},
    "rope_positions_shifted_by_one": {
        "callables": ["apply_rope"], "family": "positions", "measured": {"rotation": "(p + 1) * theta_i"}},
    "rope_interleaved_complex": {
        "callables": ["apply_rope"], "family": "positions", "measured": {"rotation": "pairs (2i, 2i+1)"}},
    "encoding_base_1000": {
        "callables": ["positional_encoding"], "family": "positions", "measured": {"encoding": "base 1000"}},
    "encoding_concatenated_halves": {
        "callables": ["positional_encoding"], "family": "positions",
        "measured": {"encoding": "PE[p, i] = sin(angle_i), PE[p, d/2 + i] = cos(angle_i)"}},
    "encoding_positions_from_one": {
        "callables": ["positional_encoding"], "family": "positions", "measured": {"encoding": "positions 1..seq_len"}},
    "accumulates_in_float16": {
        "callables": [SDPA], "family": "precision", "measured": {"accumulates_in": "float16"}},
}
