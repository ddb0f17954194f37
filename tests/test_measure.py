"""The measuring instruments (attention_conformance.measure), in process: each measures what a
variant computes, with its numbers, in every dtype; none says a word about a correct
implementation written differently; a look-alike is kept only where it reproduces the
implementation on the instruments' inputs."""

import math
import types

import ml_dtypes  # noqa: F401  (teaches numpy the name "bfloat16")
import numpy as np
import pytest

import loop_attention
from attention_conformance import diagnosis, measure, reference
from attention_conformance.mutants import unscaled_scores as unscaled
from attention_conformance.calls import Call, Decoding
from attention_conformance.cases import Case, attention_inputs, layer_inputs, visible
from attention_conformance.implementation import Implementation
from attention_conformance.oracle import EXACT, Formulas, plain

DTYPES = ("float64", "float32", "float16", "bfloat16")
LAYER = dict(batch=2, seq=6, d_model=12, n_heads=3)


def sdpa_call(dtype, mask=None, lq=3, lk=5, d_k=4, d_v=6):
    inputs = attention_inputs(seed=1, dtype=dtype, lead=(2,), lq=lq, lk=lk, d_k=d_k, d_v=d_v, mask=mask)
    return Call("scaled_dot_product_attention", inputs["q"], inputs["k"], inputs["v"], inputs["mask"], dtype=dtype)


def layer_call(capability, dtype, **changes):
    inputs = layer_inputs(seed=2, dtype=dtype, **{**LAYER, **changes})
    args = {"multi_head_attention": ("x", "params", "n_heads", "mask"), "causal_self_attention": ("x", "params", "n_heads"),
            "cross_attention": ("x", "context", "params", "n_heads", "mask")}[capability]
    return Call(capability, *(inputs[name] for name in args), dtype=dtype)


def first(result):
    return result[0] if isinstance(result, tuple) else result


def measured(namespace, call):
    """The findings for `namespace`'s answer to `call`, as the diagnosis of a failing check gets them."""
    impl = Implementation("variant", namespace, dtype=call.dtype)
    got = np.asarray(first(call.attempt(impl)[0]), dtype=np.float64)
    expected = np.asarray(first(call.on(EXACT)), dtype=np.float64)
    answers = tuple(np.asarray(first(call.on(f)), dtype=np.float64) for f in plain(call.dtype)) if call.dtype != "float64" else None
    return measure.findings(impl, call, first, got, expected, answers)


def titles(found):
    """What the diagnosis names from the findings."""
    return list(measure.named(found))


def scaled_by(scale_of):
    """scaled_dot_product_attention with the scores scaled by scale_of(q, k, v)."""
    def attention(q, k, v, mask=None):
        scores = (q @ np.swapaxes(k, -1, -2)) * scale_of(q, k, v)
        weights = reference.softmax(scores if mask is None else scores + mask)
        return weights @ v, weights
    return types.SimpleNamespace(scaled_dot_product_attention=attention)


SCALES = {
    "1/sqrt(d_v)": lambda q, k, v: 1 / math.sqrt(v.shape[-1]),
    "1/sqrt(the number of queries)": lambda q, k, v: 1 / math.sqrt(q.shape[-2]),
    "1/d_k": lambda q, k, v: 1 / q.shape[-1],
    "sqrt(d_k)": lambda q, k, v: math.sqrt(q.shape[-1]),
    "a constant 1/sqrt(8)": lambda q, k, v: 8**-0.5,
    "1 (not scaled)": lambda q, k, v: 1.0,
    "10 x 1/sqrt(d_k)": lambda q, k, v: 10 / math.sqrt(q.shape[-1]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("words", SCALES)
def test_the_scale_is_measured_and_said_as_an_expression_of_the_sizes(words, dtype):
    found = measured(scaled_by(SCALES[words]), sdpa_call(dtype))
    assert titles(found) == [f"scores scaled by {words} instead of 1/sqrt(d_k)"], found
    (finding,) = [finding for finding in found if finding.instrument == "scale"]
    assert finding.data["scale_expression"] == words and finding.data["expected_scale"] == 0.5
    assert math.isclose(finding.data["scale"], SCALES[words](*(np.zeros((1, 3, 4)), None, np.zeros((1, 5, 6)))), rel_tol=1e-12)


def layer(capability, change):
    """The formulas' layer with its arguments changed: change(named) -> named (x, context, params)."""
    class Variant(Formulas):
        def _attend(self, x, context, params, n_heads, n_kv_heads, mask):
            named = change({"x": x, "context": context, "params": params})
            return super()._attend(named["x"], named["context"], named["params"], n_heads, n_kv_heads, mask)
    return types.SimpleNamespace(**{capability: getattr(Variant(), capability)})


def with_param(name, value):
    return lambda named: {**named, "params": {**named["params"], name: value(named["params"])}}


ROLES = {
    "w_k where w_v belongs": with_param("w_v", lambda p: p["w_k"]),
    "w_q where w_k belongs": with_param("w_k", lambda p: p["w_q"]),
    "w_o transposed": with_param("w_o", lambda p: p["w_o"].T),
    "the output projection w_o left out": with_param("w_o", lambda p: np.eye(len(p["w_o"]))),
    "w_q, w_k, w_v and w_o transposed": lambda named: {**named, "params": {n: w.T for n, w in named["params"].items()}},
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("words", ROLES)
def test_a_parameter_in_another_ones_place_is_measured(words, dtype):
    found = measured(layer("multi_head_attention", ROLES[words]), layer_call("multi_head_attention", dtype))
    assert titles(found) == [words], found


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_keys_and_values_from_the_queries_side_in_cross_attention(dtype):
    variant = layer("cross_attention", lambda named: {**named, "context": named["x"]})
    found = measured(variant, layer_call("cross_attention", dtype, context=6))
    assert titles(found) == ["keys and values computed from x instead of context"], found


def causal_with_mask(mask_of):
    """causal_self_attention with the additive mask mask_of(n_heads, seq) of shape (heads, seq, seq)."""
    def attention(x, params, n_heads):
        q, k, v = (reference.split_heads(x @ params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        out, _ = reference.scaled_dot_product_attention(q, k, v, mask_of(n_heads, x.shape[1]))
        return reference.merge_heads(out) @ params["w_o"]
    return types.SimpleNamespace(causal_self_attention=attention)


def hidden(allowed):
    return np.where(allowed, 0.0, -np.inf)


VISIBILITY = {
    "each query is hidden from its own position (the diagonal is masked)": lambda h, n: hidden(np.tri(n, k=-1, dtype=bool)),
    "each position also sees the next one (an off-by-one in the mask)": lambda h, n: hidden(np.tri(n, k=1, dtype=bool)),
    "the mask is not applied (every query sees every key), except in head 0":
        lambda h, n: np.stack([reference.create_causal_mask(n)] + [np.zeros((n, n))] * (h - 1)),
    "a sliding window of 3 positions where the mask is causal": lambda h, n: reference.create_sliding_window_mask(n, 3),
}


@pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning")  # query 0 hidden from all: NaN
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("words", VISIBILITY)
def test_which_keys_each_query_sees_is_measured(words, dtype):
    found = measured(causal_with_mask(VISIBILITY[words]), layer_call("causal_self_attention", dtype))
    visibility = [finding for finding in found if finding.instrument == "visibility"]
    (finding,) = visibility
    assert finding.titles[0] == words, found  # the first that fits; a window also says its offset


def test_the_visibility_says_which_query_sees_which_keys_with_numbers():
    found = measured(causal_with_mask(VISIBILITY["each position also sees the next one (an off-by-one in the mask)"]),
                     layer_call("causal_self_attention", "float64"))
    (finding,) = [finding for finding in found if finding.instrument == "visibility"]
    assert finding.data["sees"][0] == [[0, 1]] and finding.data["expected_sees"][0] == [[0, 0]]
    assert "query 0 sees keys 0-1; the contract lets it see keys 0 (5 of 6 queries differ" in finding.lines[0]


def test_an_ignored_mask_in_sdpa_is_measured_per_batch_row():
    def attention(q, k, v, mask=None):  # the mask of batch row 0 used for every row
        return reference.scaled_dot_product_attention(q, k, v, None if mask is None else mask[:1])
    found = measured(types.SimpleNamespace(scaled_dot_product_attention=attention), sdpa_call("float64", mask="padding"))
    (finding,) = [finding for finding in found if finding.instrument == "visibility"]
    assert finding.title == "queries see keys the contract hides, except in batch row 0", found


def einsum_cross_attention(x, context, params, n_heads, mask=None):
    """Right in float64; on float16 arrays np.einsum accumulates its sums in float16."""
    def heads(a, w):
        return reference.split_heads(np.einsum("bsd,de->bse", a, w), n_heads)
    q, k, v = heads(x, params["w_q"]), heads(context, params["w_k"]), heads(context, params["w_v"])
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.asarray(math.sqrt(q.shape[-1]), dtype=q.dtype)
    weights = reference.softmax(scores if mask is None else scores + mask)
    return np.einsum("bse,ef->bsf", reference.merge_heads(np.einsum("bhqk,bhkd->bhqd", weights, v)), params["w_o"])


def test_sums_accumulated_in_float16_are_a_precision_finding_not_a_mistake_of_the_formulas():
    call = layer_call("cross_attention", "float16", seq=4, context=100, d_model=16, n_heads=2)
    impl = types.SimpleNamespace(cross_attention=einsum_cross_attention)
    found = measured(impl, call)
    assert titles(found) == ["sums accumulated in float16"], found
    assert found[0].data["accumulates_in"] == "float16"


def computing_in(dtype, scale=True):
    """scaled_dot_product_attention computed in `dtype` whatever the inputs' dtype, its output cast
    back (a .half() in the wrong place); with `scale` False, also unscaled."""
    def attention(q, k, v, mask=None):
        q, k, v = (np.asarray(a, dtype=dtype) for a in (q, k, v))
        scores = q @ np.swapaxes(k, -1, -2)
        if scale:
            scores = scores / np.asarray(math.sqrt(q.shape[-1]), dtype=dtype)
        weights = reference.softmax(scores if mask is None else scores + np.asarray(mask, dtype=dtype))
        return (weights @ v).astype(dtype).astype(np.float64), weights.astype(np.float64)  # numpy's bfloat16 @ gives float32
    return types.SimpleNamespace(scaled_dot_product_attention=attention)


def narrower(namespace, call):
    """The precision finding (or None) for `namespace`'s answer to `call`, as a failing check gets it."""
    impl = Implementation("variant", namespace, dtype=call.dtype)
    got = np.asarray(first(call.attempt(impl)[0]), dtype=np.float64).astype(call.dtype).astype(np.float64)
    return measure.narrower(impl, call, first, got, np.asarray(first(call.on(EXACT)), dtype=np.float64))


@pytest.mark.parametrize("run, narrow", [("float64", "float16"), ("float64", "bfloat16"), ("float64", "float32"),
                                         ("float32", "float16"), ("float32", "bfloat16")])
def test_computing_in_a_narrower_dtype_is_a_precision_finding(run, narrow):
    found = narrower(computing_in(narrow), sdpa_call(run, mask="causal", lq=5))
    assert found.titles == (f"computing in {narrow} inside a {run} run",), found
    assert found.data["computes_in"] == narrow and found.data["missed_by"] > 1


def test_a_mistake_computed_in_a_narrower_dtype_or_a_correct_answer_is_no_precision_finding():
    call = sdpa_call("float64")
    assert narrower(computing_in("float16", scale=False), call) is None  # outside float16's allowance too
    assert narrower(reference, call) is None and narrower(loop_attention, call) is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["reference", "loop_attention"])
def test_correct_implementations_are_measured_as_the_contract(name, dtype):
    namespace = reference if name == "reference" else loop_attention
    calls = [sdpa_call(dtype), sdpa_call(dtype, mask="causal", lq=5), sdpa_call(dtype, mask="padding"),
             layer_call("multi_head_attention", dtype), layer_call("causal_self_attention", dtype),
             layer_call("cross_attention", dtype, context=4)]
    for call in calls:  # measured, and nothing to say: no words, no numbers, no name
        assert not any(finding.titles or finding.lines or finding.data for finding in measured(namespace, call)), call


def test_a_look_alike_holds_only_where_it_reproduces_the_implementation_on_the_instruments_inputs():
    # scaling by 1/sqrt(the number of queries) is "scores not scaled" on one query, and only there
    call = sdpa_call("float64", lq=1)
    variant = scaled_by(SCALES["1/sqrt(the number of queries)"])
    found = measured(variant, call)
    assert np.allclose(first(call.on(unscaled)), first(variant.scaled_dot_product_attention(*call.args)))
    assert not measure.holds(unscaled, found, first)
    assert titles(found) == ["scores scaled by 1/sqrt(the number of queries) instead of 1/sqrt(d_k)"]


def test_only_the_first_failing_checks_of_a_callable_larger_than_the_default_profile_are_diagnosed():
    # 4,200 keys of width 4 (under a kernel profile a tile bug fails a hundred calls this large):
    # the first MOST_LARGE_DIAGNOSED are diagnosed, the next one says how to diagnose it.
    call = sdpa_call("float64", lq=1, lk=4200, d_k=4, d_v=4)
    assert diagnosis._size(call) > diagnosis.LARGEST_DIAGNOSED
    impl = Implementation("variant", unscaled, dtype="float64")
    got = np.asarray(first(call.attempt(impl)[0]), dtype=np.float64)
    expected = np.asarray(first(call.on(EXACT)), dtype=np.float64)
    said = [diagnosis.explain(impl, call, first, got, expected, None) for _ in range(diagnosis.MOST_LARGE_DIAGNOSED + 1)]
    assert all(lines and not lines[0].startswith("(not diagnosed") for lines in said[:-1]), said
    assert said[-1] == [f"(not diagnosed: the kit diagnosed the first {diagnosis.MOST_LARGE_DIAGNOSED} failing checks "
                        "of scaled_dot_product_attention this large in this run; run this check alone to diagnose it)"]


def test_the_summary_names_one_look_alike_or_else_the_one_measured_description_the_look_alikes_share():
    measured = diagnosis.MEASURED + "the mask is not applied (every query sees every key)"
    both = ["cross_mask_ignored", "mask_ignored"]
    # the same two look-alikes on every check, one measured description: the description
    assert diagnosis.consensus([[*both, measured], both, [*both, measured]], []).title == measured[len(diagnosis.MEASURED):]
    # one of them inside a callable whose checks all passed: the other, with its fix
    assert diagnosis.consensus([[*both, measured], both], ["scaled_dot_product_attention"]).name == "cross_mask_ignored"
    # a lone look-alike stays, even inside a callable whose checks pass: a layer need not use its own
    # merge_heads, and the evidence singles it out
    assert diagnosis.consensus([["heads_merged_without_transpose"]], ["merge_heads"]).name == "heads_merged_without_transpose"
    # a measured title that is a catalogue mistake ("Measured:") agrees with that mistake's look-alike
    over_queries = diagnosis.MEASURED + measure.OVER_QUERIES
    assert diagnosis.consensus([[over_queries], ["softmax_wrong_axis"]], []).name == "softmax_wrong_axis"
    # one of them singled out by another callable's checks in the same run: that one
    assert diagnosis.consensus([[*both, measured]], [], named={"mask_ignored"}).name == "mask_ignored"
    # two measured descriptions, or a check that nothing explains: no name
    other = diagnosis.MEASURED + "queries see keys the contract hides"
    assert diagnosis.consensus([[*both, measured], [*both, other]], []) is None
    assert diagnosis.consensus([[*both, measured], []], []) is None


class Unscaled(Formulas):
    """Every callable of the formulas with the scores left unscaled."""

    def scale(self, d_k):
        return 1.0


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
@pytest.mark.parametrize("capability", ["attention_with_lse", "modified_attention", "varlen_attention"])
def test_the_scale_of_a_serving_callables_scores_is_measured_and_names_the_catalogues_mistake(capability, dtype):
    """The serving callables take q, k, v as the sdpa does: the scale instrument measures them, and
    its title is the one the catalogue's mutant says it is measured as ("Measured:")."""
    inputs = attention_inputs(seed=3, dtype=dtype, lead=(2, 3), lq=4, lk=6, d_k=8, d_v=8)
    if capability == "varlen_attention":  # two sequences packed: (total, heads, d)
        q, k, v = (inputs[name][0].swapaxes(0, 1) for name in ("q", "k", "v"))
        call = Call(capability, q, k, v, np.array([0, 1, 4], np.int32), np.array([0, 2, 6], np.int32), dtype=dtype)
    else:
        call = Call(capability, inputs["q"], inputs["k"], inputs["v"], None, dtype=dtype)
    impl = Implementation("variant", Unscaled(), dtype=dtype)
    got = np.asarray(first(call.attempt(impl)[0]), dtype=np.float64)
    found = measure.queried(impl, call, first, got)
    assert titles(found) == ["scores scaled by 1 (not scaled) instead of 1/sqrt(d_k)"], found
    named = diagnosis.consensus([[diagnosis.MEASURED + titles(found)[0]]], [])
    assert named is diagnosis.catalogue()["unscaled_scores"]
    correct = Implementation("formulas", Formulas(), dtype=dtype)  # the contract's own scale: nothing said
    assert measure.queried(correct, call, first, np.asarray(first(call.attempt(correct)[0]))) == []


def test_each_measured_title_of_the_catalogue_names_one_mistake():
    measured = [title for mistake in diagnosis.catalogue().values() for title in mistake.measured]
    assert len(measured) >= 15 and len(set(measured)) == len(measured)
    for mistake in diagnosis.catalogue().values():
        assert all(diagnosis._measured_as(title) is mistake for title in mistake.measured)


def over_the_queries(q, k, v, mask=None):
    """The attention with its softmax normalised over the queries (the shift still over the keys)."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + (0.0 if mask is None else mask)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = e / e.sum(axis=-2, keepdims=True)
    return weights @ v, np.logaddexp.reduce(scores, axis=-1)


OVER_THE_QUERIES = types.SimpleNamespace(
    scaled_dot_product_attention=lambda q, k, v, mask=None: over_the_queries(q, k, v, mask),
    attention_with_lse=over_the_queries,
    modified_attention=lambda q, k, v, mask=None, **modifiers: over_the_queries(q, k, v, mask)[0])


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize("capability", ["scaled_dot_product_attention", "attention_with_lse", "modified_attention"])
def test_weights_that_sum_to_one_over_the_queries_are_measured_and_named(capability, dtype):
    """One-hot values make the output the weights: their columns sum to one, not their rows."""
    inputs = attention_inputs(seed=5, dtype=dtype, lead=(2, 2), lq=5, lk=5, d_k=8, d_v=8, mask="causal")
    call = Call(capability, inputs["q"], inputs["k"], inputs["v"], inputs["mask"], dtype=dtype)
    for namespace, said in ((OVER_THE_QUERIES, [measure.OVER_QUERIES]), (Formulas(), [])):
        impl = Implementation("variant", namespace, dtype=dtype)
        got = np.asarray(first(call.attempt(impl)[0]), dtype=np.float64)
        found = ([measure.summed_axis(impl, call, first)] if capability == "scaled_dot_product_attention"
                 else measure.queried(impl, call, first, got))
        assert titles([f for f in found if f]) == said, found
    named = diagnosis.consensus([[diagnosis.MEASURED + measure.OVER_QUERIES]], [])
    assert named is diagnosis.catalogue()["softmax_wrong_axis"]


@pytest.mark.parametrize("window", [None, 3])
def test_a_causal_triangle_turned_over_is_told_from_an_inverted_mask_and_an_off_by_one(window):
    """tril for triu, with or without its diagonal: queries see keys after their own, none before."""
    n = 6
    expected = np.where(visible(n, n, 0, window), 0.0, -np.inf)  # the contract's causal (or windowed) mask
    for seen, title in ((~np.tri(n, k=1, dtype=bool), measure.TURNED_OVER),  # -inf kept on and below i + 1
                        (~np.tri(n, k=-1, dtype=bool), measure.TURNED_OVER),  # triu(): the diagonal kept
                        (visible(n, n, 1, window and window + 1), "each position also sees the next one (an off-by-one in the mask)")):
        finding = measure.mask_visibility(np.where(seen, 0.0, -np.inf), expected)
        assert finding.titles == (title,), finding
    if window is None:
        assert measure.mask_visibility(np.where(np.isinf(expected), 0.0, -np.inf), expected).titles == (
            "the mask is inverted (each query sees exactly the keys it must not)",)


def tiled(keys, values):
    """modified_attention with the keys, the values or both repeated in np.tile's order (query head
    h on key/value head h % n_kv_heads)."""
    def attention(q, k, v, mask=None, **modifiers):
        group = q.shape[1] // k.shape[1]
        k, v = (np.tile(a, (1, group, 1, 1)) if on else np.repeat(a, group, axis=1) for a, on in ((k, keys), (v, values)))
        return reference.modified_attention(q, k, v, mask, **modifiers)
    return types.SimpleNamespace(modified_attention=attention)


@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_the_key_value_head_each_query_head_reads_is_measured_and_named(dtype):
    inputs = attention_inputs(seed=6, dtype=dtype, lead=(2, 2), lq=3, lk=5, d_k=8, d_v=8)
    q = np.concatenate([inputs["q"]] * 3, axis=1)  # 6 query heads over 2 key/value heads
    call = Call("modified_attention", q, inputs["k"], inputs["v"], None, dtype=dtype)
    for namespace, said in ((tiled(True, True), [measure.TILED]), (tiled(False, True), [measure.VALUES_TILED]),
                            (tiled(True, False), [measure.KEYS_TILED]), (Formulas(), [])):
        impl = Implementation("variant", namespace, dtype=dtype)
        found = measure.queried(impl, call, first, np.asarray(call.attempt(impl)[0], dtype=np.float64))
        assert titles(found) == said, found
    for title, name in ((measure.TILED, "kv_heads_tiled"), (measure.VALUES_TILED, "kv_values_tiled")):
        assert diagnosis.consensus([[diagnosis.MEASURED + title]], []) is diagnosis.catalogue()[name]


def einsum_layer(axis, masked=True):
    """The attention layers in einsum, their softmax normalised over `axis` of the scores (the shift
    over the keys), and, unless `masked`, the mask left out."""
    def attend(x, context, params, n_heads, mask):
        def heads(a, w):
            return reference.split_heads(np.einsum("bsd,de->bse", np.asarray(a, np.float64), np.asarray(w, np.float64)), n_heads)
        q, k, v = heads(x, params["w_q"]), heads(context, params["w_k"]), heads(context, params["w_v"])
        scores = np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
        if mask is not None and masked:
            scores = scores + mask
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        out = np.einsum("bhqk,bhkd->bhqd", e / e.sum(axis=axis, keepdims=True), v)
        return reference.merge_heads(out) @ np.asarray(params["w_o"], np.float64)
    return types.SimpleNamespace(
        multi_head_attention=lambda x, params, n_heads, mask=None: attend(x, x, params, n_heads, mask),
        causal_self_attention=lambda x, params, n_heads: attend(x, x, params, n_heads, reference.create_causal_mask(x.shape[1])),
        cross_attention=lambda x, context, params, n_heads, mask=None: attend(x, context, params, n_heads, mask))


@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
@pytest.mark.parametrize("capability", ["multi_head_attention", "causal_self_attention", "cross_attention"])
def test_a_layers_weights_summed_over_the_queries_are_measured_through_one_head_and_unit_vectors(capability, dtype):
    """One head, x (or the context) one unit vector per position, w_v = w_o = 1: the layer's output is its weights."""
    changes = {"context": 4} if capability == "cross_attention" else {}
    call = layer_call(capability, dtype, mask="padding" if capability != "causal_self_attention" else None, **changes)
    for namespace, said in ((einsum_layer(axis=-2), (measure.OVER_QUERIES,)), (einsum_layer(axis=-1), None)):
        impl = Implementation("variant", namespace, dtype=dtype)
        found = measure.summed_axis(impl, call, first)
        assert (found and found.titles) == said, found


def test_a_decoding_steps_query_seeing_its_own_key_alone_fits_a_turned_triangle_and_nothing_wider():
    """A decoding step's one query has no key after it: the triangle turned over leaves it its own key."""
    wanted = np.ones((1, 5), dtype=bool)
    alone = np.eye(1, 5, k=4, dtype=bool)
    assert measure.turned_over(alone, wanted, offset=4) and measure.own_alone(alone, wanted, offset=4)
    diagonal, upper = np.eye(4, dtype=bool), ~np.tri(4, k=-1, dtype=bool)
    assert measure.turned_over(upper, diagonal)  # a window of one, its triangle turned: each query sees the later keys
    assert not measure.own_alone(upper, diagonal)
    causal = np.tri(4, dtype=bool)
    assert not measure.turned_over(diagonal, causal) and measure.own_alone(diagonal, causal)
    assert not measure.turned_over(causal, causal) and not measure.own_alone(diagonal, diagonal)


def test_an_output_nan_everywhere_is_no_claim_of_what_the_queries_see():
    def attention(q, k, v, mask=None):
        out, weights = reference.scaled_dot_product_attention(q, k, v, mask)
        return np.full_like(out, np.nan), weights
    impl = Implementation("variant", types.SimpleNamespace(scaled_dot_product_attention=attention), dtype="float64")
    finding = measure.visibility(impl, sdpa_call("float64", mask="causal", lq=5), first)
    assert finding is not None and not finding.titles, finding


@pytest.mark.parametrize("capability", ["attention_with_lse", "modified_attention"])
def test_a_mask_passed_in_and_left_out_is_measured_in_the_serving_callables_and_named(capability):
    inputs = attention_inputs(seed=7, dtype="float64", lead=(2, 2), lq=4, lk=5, d_k=8, d_v=8, mask="padding")
    call = Call(capability, inputs["q"], inputs["k"], inputs["v"], inputs["mask"], dtype="float64")
    unmasked = types.SimpleNamespace(attention_with_lse=lambda q, k, v, mask=None: reference.attention_with_lse(q, k, v),
                                     modified_attention=lambda q, k, v, mask=None, **m: reference.modified_attention(q, k, v, **m))
    impl = Implementation("variant", unmasked, dtype="float64")
    found = measure.queried(impl, call, first, np.asarray(first(call.attempt(impl)[0]), dtype=np.float64))
    assert titles(found) == [measure.ARGUMENT_IGNORED], found
    assert diagnosis.consensus([[diagnosis.MEASURED + measure.ARGUMENT_IGNORED]], []) is diagnosis.catalogue()["mask_ignored"]


def test_a_causal_layer_that_sees_every_key_is_measured_as_its_causal_mask_not_applied():
    found = measured(einsum_layer(axis=-1, masked=False), layer_call("causal_self_attention", "float64"))
    assert measure.NOT_MASKED in titles(found), found
    assert diagnosis.consensus([[diagnosis.MEASURED + measure.NOT_MASKED]], []) is diagnosis.catalogue()["causal_mask_forgotten"]


def test_a_check_that_raised_counts_only_for_a_mistake_that_raises_on_its_call_too():
    keys, raises = "keys_not_transposed", diagnosis.RAISES
    assert diagnosis.consensus([[keys], [raises + keys, raises + "heads_averaged"]], []).name == keys
    assert diagnosis.consensus([[keys], [raises + "heads_averaged"]], []) is None  # it would have answered
    assert diagnosis.consensus([[raises + keys]], []) is None  # raising alike alone names nothing
    assert diagnosis.consensus([[keys], []], []) is None  # a raise no mistake shares
    over_queries = diagnosis.MEASURED + measure.OVER_QUERIES
    assert diagnosis.consensus([[over_queries], [raises + "softmax_wrong_axis"]], []).name == "softmax_wrong_axis"
    assert diagnosis.consensus([[over_queries], [raises + "heads_averaged"]], []) is None


def test_the_mistakes_that_raise_too_are_those_whose_answer_to_the_call_raises():
    square = sdpa_call("float64", lq=3, lk=4, d_k=4, d_v=4)  # keys untransposed multiply (4, 4) by (4, 4): no raise
    assert diagnosis.RAISES + "keys_not_transposed" in diagnosis.raising_alike(sdpa_call("float64", lk=5, d_k=4))
    assert diagnosis.RAISES + "keys_not_transposed" not in diagnosis.raising_alike(square)


def step_sees_itself_alone(x_t, params, n_heads, cache=None):
    """decode_step whose query sees its own key alone (a triangle turned over, or a cache that keeps nothing)."""
    v = reference.split_heads(x_t @ params["w_v"], n_heads)  # one key: weight 1 on it
    return reference.merge_heads(v) @ params["w_o"], cache


def test_a_step_fed_one_position_at_a_time_that_sees_itself_alone_fits_a_turned_triangle_too():
    def sequence(capability, seq, pieces):
        return Case(capability, capability, dict(seed=50, batch=2, seq=seq, d_model=8, n_heads=2, style="normal"),
                    draw="layer_inputs", pieces=tuple(pieces))

    decoding = Decoding(sequence("decode_step", 5, range(5)), "float64")
    impl = Implementation("variant", types.SimpleNamespace(decode_step=step_sees_itself_alone), dtype="float64")
    finding = measure.decoding_visibility(impl, decoding)
    assert {measure.ONLY_OWN, measure.TURNED_OVER} <= set(finding.titles), finding
    chunks = Decoding(sequence("decode_chunk", 6, (0, 3)), "float64")
    chunked = Implementation("variant", types.SimpleNamespace(decode_chunk=lambda x, params, n_heads, cache=None: (
        reference.merge_heads(reference.split_heads(x @ params["w_v"], n_heads)) @ params["w_o"], cache)), dtype="float64")
    assert measure.TURNED_OVER not in measure.decoding_visibility(chunked, chunks).titles  # pieces of 3: it would see ahead
