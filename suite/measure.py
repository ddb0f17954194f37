"""Measuring what a failing implementation computes, in the contract's own terms.

After a check has failed (never before: a passing run pays nothing), instruments call the
implementation on inputs the kit draws for the purpose and measure one thing each:
- scale: the factor s for which softmax(s * q k^T + mask) v reproduces the output, on the
  check's sizes and on other sizes, said as an expression of the sizes ("1/d_k", "1/sqrt(d_v)");
- visibility: which key positions each query's output depends on, queries set to zero so that
  every visible key weighs the same (no softmax saturates, no scale matters), per batch row and,
  for the layers, per head; compared with what the formulas' output depends on;
- roles: which parameter or input plays which part ("w_k where w_v belongs", "w_o transposed").
An instrument reports a finding only when its model, the formulas with that one thing changed,
reproduces the implementation's output within the run's allowance on every input it drew; the
finding then carries its numbers (data, for the records) and its words (lines, and a title when
the measurement singles out what is wrong). Its inputs are kept as probes: a look-alike of the
catalogue (diagnosis.py) is named only if it reproduces the implementation there too.
"""

import math
from dataclasses import dataclass, field, replace

import numpy as np

from attention_conformance.cases import PARAMS, cast_floats, floating
from attention_conformance.oracle import EXACT, Formulas, plain
from attention_conformance.precision import BUDGET_MULTIPLE, allowance, excess_over

LAYERS = ("multi_head_attention", "causal_self_attention", "grouped_query_attention", "cross_attention")
SCALED = ("scaled_dot_product_attention", *LAYERS)
# The serving callables take q, k, v as scaled_dot_product_attention does (varlen's and paged's laid
# out otherwise, the head width last in each): the scale instrument measures their factor too; what
# else they do wrong, their own instruments measure (measure_serving, measure_packed, measure_paged).
QUERIED = ("attention_with_lse", "modified_attention", "varlen_attention", "paged_attention")
SDPA_LAYOUT = ("scaled_dot_product_attention", "attention_with_lse", "modified_attention")
HEAD_WIDTHS = ("q", "k", "v", "k_pages", "v_pages")  # the arrays whose last axis is a head's width
MASKS = ("create_causal_mask", "create_sliding_window_mask")
DECODERS = ("decode_step", "decode_chunk")
MOST_POSITIONS = 24  # the visibility instrument calls the implementation once per key position
MOST_FED = 12  # and a decoder once per position and piece: it is measured on its first 12 positions
MOST_SCORES = 2**15  # above this many scores (lead axes x queries x keys) nothing is measured
MOST_WEIGHTS = 2**16  # nor above this many numbers in one weight (d_model 256): a fit calls the formulas ~70 times
# The precision instruments compute the plain formulas term by term (every product kept: the
# largest argument's size times a width): above this many numbers in the largest argument they
# would take minutes at a kernel profile's sizes, and are left out.
MOST_TERMWISE = 2**15
SEED = 20260  # the instruments' own draws
BUMP = 64.0  # how far the visibility instrument moves one key (its inputs are about 1)


@dataclass(frozen=True)
class Finding:
    """What one instrument measured: `data` for the records, `lines` for the message, `titles` the
    mistakes the measurement fits (one: it singles that one out; none: measured, but not a mistake
    on its own), `probes` the (call, observed output, allowed) on which any other explanation must
    hold too."""

    instrument: str
    data: dict
    lines: tuple
    titles: tuple = ()
    probes: tuple = field(default=(), repr=False)
    why: str = "the output is what the formulas give with that change"
    whole: bool = True  # its model reproduces the output (False: it describes a symptom)

    @property
    def title(self):
        return self.titles[0] if len(self.titles) == 1 else None


def findings(impl, call, observe, got, expected, answers):
    """The findings of every instrument that applies to the failing call ([] when none does);
    `got` and `expected` are what the check compared, `answers` the plain formulas' (or None)."""
    capability = getattr(call, "capability", None)
    if hasattr(call, "named") and not deterministic(impl, call, observe, got):
        return []  # every measurement would measure the noise (the probes say so: probes.py)
    accumulated = precision(impl, call, observe, got, expected, answers)
    if accumulated:
        return [accumulated]
    if capability in MASKS:
        found = [mask_visibility(got, expected)]
    elif capability in DECODERS and not hasattr(call, "named"):
        found = [decoding_visibility(impl, call)]
    elif capability in SCALED:
        short = _shortened(call)
        if _scores(short) > MOST_SCORES or _largest_weight(short) > MOST_WEIGHTS:
            return []
        if short is not call and not _fails(impl, short, observe):
            return []  # the mistake shows only on longer inputs (a tile's edge): nothing here measures it
        found = _cached(impl, short, observe)
        if short is not call:  # say so: a mistake that shows only on longer inputs is not measured here
            found = [replace(f, lines=(*f.lines, f"evidence: (measured on the first {MOST_POSITIONS} queries and keys)"))
                     if f.lines else f for f in found if f is not None]
    else:
        return []
    return [finding for finding in found if finding is not None]


def queried(impl, call, observe, got):
    """[the first of what the serving callables' shared instruments measure that is not the
    contract's: the scale of the scores, the axis the weights sum over, the key/value head each
    query head reads, which keys each query sees (the callables laid out as
    scaled_dot_product_attention)], else []."""
    if not hasattr(call, "named") or call.capability not in QUERIED or not deterministic(impl, call, observe, got):
        return []
    found = scale(impl, call, observe) or summed_axis(impl, call, observe) or kv_heads(impl, call, observe)
    if found is None and call.capability in SDPA_LAYOUT:  # the last: it calls once per key
        seen = visibility(impl, call, observe)
        found = seen if seen is not None and seen.titles else None
    return [found] if found is not None else []


def _fails(impl, call, observe):
    """The implementation misses the contract's answer on this call too (or cannot answer it)."""
    probe = probed(impl, call, observe)
    return probe is None or not probe.reproduced_by(EXACT, observe)


def deterministic(impl, call, observe, got):
    """The call answered twice more as it was the first time, bit for bit."""
    for _ in range(2):
        again = _observed(impl, call, observe)
        if again is None or again.shape != got.shape or not np.array_equal(again, got, equal_nan=True):
            return False
    return True


def _cached(impl, call, observe):
    """The instruments' findings for a call: they draw their own inputs, so a check of the same
    callable, sizes, mask and observed output reuses them (the probes of a run share the work)."""
    key = _signature(call, observe)
    cache = impl.measured
    if key is None or key not in cache:
        found = []
        for instrument in (roles, visibility, scale, summed_axis):
            found.append(instrument(impl, call, observe))
            if found[-1] is not None and found[-1].whole and found[-1].titles:
                break  # explained whole: the other instruments would only cost
        if key is None:
            return found
        cache[key] = found
    return cache[key]


def _signature(call, observe):
    """What the instruments' findings depend on, or None when that cannot be told (an observation
    that closes over values of its check)."""
    if getattr(observe, "__closure__", None):
        return None
    arrays = tuple((name, value.shape) for name, value in call.named().items() if isinstance(value, np.ndarray)
                   and name != "mask")
    params = call.named().get("params")
    shapes = tuple((key, w.shape) for key, w in params.items()) if isinstance(params, dict) else ()
    mask = call.named().get("mask")
    mask = None if mask is None else (np.shape(mask), np.asarray(mask, dtype=np.float64).tobytes())
    numbers = tuple((name, value) for name, value in call.named().items() if isinstance(value, int))
    return (call.capability, call.dtype, getattr(observe, "__code__", observe), arrays, shapes, mask, numbers)


def named(found):
    """The titles the findings fit: one names the mistake, several leave it to the summary. A
    finding whose model reproduces the output (a precision, a scale, a role) explains it whole and
    comes first; the keys each query sees describe a symptom, taken when nothing else explains."""
    whole = [finding for finding in found if finding.whole and finding.titles]
    if whole:
        return whole[0].titles if len(whole) == 1 else ()
    described = [finding for finding in found if finding.titles]
    return described[0].titles if len(described) == 1 else ()


def resized_probe(impl, call, observe):
    """The implementation's answer on inputs the kit draws with other sizes, against which a
    look-alike (a mutant that gave what the implementation gave on the check's call) is confirmed:
    a coincidence of the check's sizes (one query, d_v = d_k) does not survive it. None where the
    kit draws no such inputs (then nothing is refuted)."""
    capability = getattr(call, "capability", None)
    if capability in DECODERS and not hasattr(call, "named"):
        return _resized_decoding(impl, call)
    if capability not in SCALED or not hasattr(call, "named"):
        return None
    short = _shortened(call)
    if _scores(short) > MOST_SCORES or _largest_weight(short) > MOST_WEIGHTS:
        return None
    return probed(impl, _resized(impl, short), observe)


def _resized_decoding(impl, decoding):
    """The decoder fed a sequence of twice the width (at most MOST_POSITIONS long), drawn by the kit."""
    if decoding.x.shape[2] * 2 > 256:
        return None
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((decoding.x.shape[0], min(decoding.x.shape[1], MOST_POSITIONS), 2 * decoding.x.shape[2]))
    params = {key: rng.standard_normal(tuple(2 * n for n in w.shape)) / math.sqrt(2 * w.shape[0])
              for key, w in decoding.params.items()}
    fed = _Fed(decoding, cast_floats(x, decoding.dtype), cast_floats(params, decoding.dtype))
    seen, expected = fed.answer(impl), fed.answer(EXACT)
    if seen is None or seen.shape != expected.shape:
        return None
    return _Probe(impl, fed, seen, impl.allowance.allowed(expected), expected)


def holds(namespace, found, observe):
    """Whether another implementation of the contract (a look-alike mutant) gives what the
    implementation gave on every probe of the findings."""
    for finding in found:
        for call, seen, allowed in finding.probes:
            try:
                would = np.asarray(observe(_answer(namespace, call)), dtype=np.float64)
            except Exception:  # the look-alike raises where the implementation answered
                return False
            if would.shape != seen.shape or not (excess_over(seen, would, allowed) <= 1).all():
                return False
    return True


# --- the instruments ---------------------------------------------------------------------------


def scale(impl, call, observe):
    """The factor of the scores, on the check's sizes redrawn and on other sizes: first each
    expression of the sizes (one call of the formulas each), else a fit and the constants near it."""
    probes = [probe for probe in (probed(impl, _drawn(call), observe), probed(impl, _resized(impl, call), observe)) if probe]
    if not probes:
        return None

    def scaled(factors):  # each probe, what rounding allows around the scaled formulas' answer there
        return [probe.around(lambda dtype, f=f: Scaled(f, dtype), observe) for probe, f in zip(probes, factors)]

    def reproduces(factors):
        return all(probe.reproduced_by(Scaled(f), observe) for probe, f in zip(scaled(factors), factors))

    found = {}  # factors on each probe -> the words of the expressions that give them
    for words, function in _size_expressions(probes[0].call):
        factors = tuple(function(_sizes(probe.call)) for probe in probes)
        if factors in found or reproduces(factors):
            found.setdefault(factors, []).append(words)
    if found:  # expressions equal on every call measured (queries and keys in self-attention) are all said
        factors, equal = next(iter(found.items()))
        words = " = ".join(equal)
    else:
        fitted = [_fit(lambda factor, probe=probe: observe(_answer(Scaled(factor), probe.call)), probe.seen) for probe in probes]
        if None in fitted:
            return None
        tolerance = FIT_TOLERANCE[call.dtype]
        # in low precision an expression's exact factors may miss what the fitted ones reproduce: near is enough
        near = [(words, factors) for words, function in _size_expressions(probes[0].call)
                for factors in [tuple(function(_sizes(probe.call)) for probe in probes)]
                if all(math.isclose(value, f, rel_tol=tolerance) for value, f in zip(factors, fitted))]
        near += [(words, (value,) * len(probes)) for words, value in _constants(fitted[0])
                 if all(math.isclose(value, f, rel_tol=tolerance) for f in fitted)]
        ratios = [f * math.sqrt(_sizes(probe.call)["d_k"]) for probe, f in zip(probes, fitted)]
        if all(math.isclose(r, ratios[0], rel_tol=FIT_TOLERANCE[call.dtype]) for r in ratios):  # a temperature
            ratio = round(ratios[0]) if math.isclose(ratios[0], round(ratios[0]), rel_tol=FIT_TOLERANCE[call.dtype]) \
                else float(f"{ratios[0]:.4g}")
            near.append((f"{ratio:g} x 1/sqrt(d_k)", tuple(ratio / math.sqrt(_sizes(p.call)["d_k"]) for p in probes)))
        words, factors = next(((w, f) for w, f in near if reproduces(f)),
                              (near[0][0] if near else "factors that are no expression of the sizes", tuple(fitted)))
        equal = [words]
        if not reproduces(factors):
            return None
    contract = [1 / math.sqrt(_sizes(probe.call)["d_k"]) for probe in probes]
    if all(math.isclose(f, c, rel_tol=1e-9) for f, c in zip(factors, contract)):
        return None  # the contract's own scale: the mistake is elsewhere
    shown = "; ".join(f"{f:.4g} where d_k = {_sizes(probe.call)['d_k']} ({_described(probe.call)})"
                      for probe, f in zip(probes, factors))
    data = {"scale": factors[0], "expected_scale": contract[0], "scale_expression": words}
    line = (f"evidence: measured the scale of the scores: {shown}; the contract scales by 1/sqrt(d_k): the output "
            f"is what the formulas give with the scores scaled by {words} (inputs drawn by the kit, seed {SEED})")
    return Finding("scale", data, (line,), tuple(f"scores scaled by {one} instead of 1/sqrt(d_k)" for one in equal),
                   tuple(probe.kept() for probe in scaled(factors)))


def visibility(impl, call, observe):
    """Which keys each query sees: the implementation against the formulas, key by key. A query
    whose output is NaN sees no key (moving one moves nothing there); no claim when every output is
    NaN or infinite and the contract's is not: then nothing was measured."""
    probe = probed(impl, _drawn(call, blind=True), observe)
    if probe is None or _keys(probe.call) > MOST_POSITIONS:
        return None
    measured = Finding("visibility", {}, (), probes=(probe.kept(),), whole=False)  # nothing to say, but its probe
    if not np.isfinite(probe.seen[np.isfinite(probe.expected)]).any():
        return measured
    seen = _sees(probe, lambda changed: _observed(impl, changed, observe))
    expected = _sees(probe, lambda changed: np.asarray(observe(_answer(EXACT, changed)), dtype=np.float64))
    if seen is None or expected is None or (seen == expected).all():
        return measured
    if not (seen > 0).any() and call.capability in LAYERS:  # w_q = 0 silenced it: the blinding, not visibility
        return measured
    groups = _grouped(seen, expected, "batch row" if call.capability in LAYERS or seen.ndim == 3 else "leading index")
    if groups is None:  # the perturbation moved some output by an amount in between: no claim
        return measured
    if call.capability in LAYERS:
        groups = _by_head(impl, probe, observe) or groups
    lines = tuple(f"evidence: {line}" for line in _visibility_lines(groups, "measured by changing one key at a time, "
                                                                         "queries set to zero"))
    titles = _visibility_titles(groups)
    passed_in = call.capability in SDPA_LAYOUT and call.named().get("mask") is not None
    if passed_in or call.capability == "causal_self_attention":  # whose mask it is that every query sees past
        titles = tuple((ARGUMENT_IGNORED if passed_in else NOT_MASKED) if title == NOT_APPLIED else title
                       for title in titles)
    return replace(measured, data=_sees_data(seen, expected), lines=lines, titles=titles,
                   why="which keys each query's output depends on")


OVER_QUERIES = "the weights sum to one over the queries, not over the keys (the softmax over axis -2)"
SUM_TOLERANCE = {"float64": 1e-6, "float32": 1e-4, "float16": 2e-2, "bfloat16": 2e-2}
MOST_ONE_HOT = 512  # the weights instrument's values are as wide as the keys are many


def summed_axis(impl, call, observe):
    """The axis the attention weights sum to one over, read through one-hot values (key j's value
    the unit vector j, so that output[i, j] is query i's weight on key j): a softmax over the queries
    makes each key's column sum to one, where the contract makes each query's row."""
    one_hot = _one_hot_values(call)
    if one_hot is None:
        return None
    drawn, keys = one_hot
    probe = probed(impl, drawn, observe)
    if probe is None or probe.seen.shape[-1] < keys:
        return None
    seen, expected = probe.seen[..., :keys], probe.expected[..., :keys]  # a layer's further columns are 0
    # the keys some query weighs at all (a steep ALiBi slope can leave a far key 0 for every query)
    columns = np.broadcast_to((expected > 0).any(axis=-2, keepdims=True), seen.shape)
    if not np.isfinite(seen[columns]).all():
        return None
    weights = np.where(columns, seen, 0.0)
    tolerance, rows_wanted = SUM_TOLERANCE[call.dtype], expected.sum(axis=-1)  # below 1 where a sink takes a share
    rows, sums = weights.sum(axis=-1), weights.sum(axis=-2)[columns.any(axis=-2)]
    if np.allclose(rows, rows_wanted, atol=tolerance) or not np.allclose(sums, 1, atol=tolerance):
        return None
    line = (f"evidence: with each key's value a unit vector of its own (the output is then the weights), each key's "
            f"weights sum to 1 over the queries (within {tolerance:g}), and each query's over the keys to "
            f"{_span(rows)}, not {_span(rows_wanted)} (inputs drawn by the kit, seed {SEED})")
    return Finding("weights", {"row_sums": [float(rows.min()), float(rows.max())]}, (line,), (OVER_QUERIES,),
                   (probe.kept(),), why="which axis the weights sum to one over", whole=False)


def _span(values):
    """ "1", or "0.2-0.9": the range of some sums, as the evidence shows them."""
    low, high = float(values.min()), float(values.max())
    return f"{low:.3g}" if f"{low:.3g}" == f"{high:.3g}" else f"{low:.3g}-{high:.3g}"


def _one_hot_values(call):
    """(the call with each key's value a unit vector of its own and no mask, its number of keys),
    or None where the weights cannot be read so. No mask: the axis normalised is the softmax's own,
    and a key no query sees would make its column 0 / 0 over the queries, NaN through every output
    of its row. A layer computes its values as x @ w_v @ w_o: with one head, each position's x a
    unit vector of its own and w_v = w_o = the identity, its output's first columns are the weights
    (the lengths cut to d_model); w_q and w_k drawn at unit scale keep the scores about 1."""
    if not hasattr(call, "named"):
        return None
    drawn = _drawn(call)
    named = drawn.named()
    if call.capability in SDPA_LAYOUT:
        if _keys(call) > MOST_ONE_HOT:
            return None
        lead, keys = named["v"].shape[:-2], named["k"].shape[-2]
        values = cast_floats(np.broadcast_to(np.eye(keys), (*lead, keys, keys)).copy(), call.dtype)
        return drawn.replaced({**named, "v": values, "mask": None}), keys
    if call.capability not in LAYERS or set(named["params"]) != set(PARAMS) or named["params"]["w_v"].ndim != 2:
        return None
    batch, _, d_model = named["x"].shape
    rng = np.random.default_rng(SEED)
    eye = np.eye(d_model)
    params = {"w_q": rng.standard_normal((d_model, d_model)), "w_k": rng.standard_normal((d_model, d_model)),
              "w_v": eye, "w_o": eye}
    lengths = {name: min(named[name].shape[1], d_model) for name in ("x", "context") if name in named}
    one_hot = {name: np.broadcast_to(np.eye(length, d_model), (batch, length, d_model)).copy()
               for name, length in lengths.items()}
    changed = {**named, **{name: cast_floats(value, call.dtype) for name, value in one_hot.items()},
               "params": {name: cast_floats(value, call.dtype) for name, value in params.items()}, "n_heads": 1}
    changed.update({name: value for name, value in (("n_kv_heads", 1), ("mask", None)) if name in named})
    return drawn.replaced(changed), lengths.get("context", lengths["x"])


TILED = "query head h reads key/value head h % n_kv_heads, not h // (n_heads / n_kv_heads) (the heads tiled)"
VALUES_TILED = ("query head h weighs the keys of key/value head h // (n_heads / n_kv_heads) but averages the values "
                "of head h % n_kv_heads (the values tiled, not the keys)")
KEYS_TILED = ("query head h weighs the keys of key/value head h % n_kv_heads but averages the values of head "
              "h // (n_heads / n_kv_heads) (the keys tiled, not the values)")


def kv_heads(impl, call, observe):
    """Which key/value head's keys and which one's values each query head reads (modified_attention's
    grouped heads), on two calls with no mask: the values each head's own unit vector (queries zero),
    then one key position standing out in each head's keys (the values each position's unit vector);
    heads tiled (h % n_kv_heads) where the contract groups them (h // group) said so."""
    if not hasattr(call, "named") or call.capability != "modified_attention":
        return None
    named = {**_drawn(call, blind=True).named(), "mask": None}
    if named["q"].ndim != 4 or named["k"].ndim != 4:
        return None
    (batch, n_heads, lq, d_k), (_, n_kv_heads, lk, _) = named["q"].shape, named["k"].shape
    if n_kv_heads in (1, n_heads) or lk < n_kv_heads:
        return None
    values = np.zeros((batch, n_kv_heads, lk, n_kv_heads))
    values[:, np.arange(n_kv_heads), :, np.arange(n_kv_heads)] = 1.0
    q, k = np.zeros_like(named["q"]), np.zeros_like(named["k"])
    q[..., 0] = 1.0
    k[:, np.arange(n_kv_heads), np.arange(n_kv_heads), 0] = 30.0 * math.sqrt(d_k)  # head g's keys: position g stands out
    reads = []
    for changed in ({"v": values}, {"q": q, "k": k, "v": np.broadcast_to(np.eye(lk), (batch, n_kv_heads, lk, lk))}):
        probe = probed(impl, call.replaced({**named, **{n: cast_floats(np.array(a), call.dtype) for n, a in changed.items()}}), observe)
        if probe is None or not np.isfinite(probe.seen).all():
            return None
        reads.append(probe.seen.mean(axis=(0, 2)).argmax(axis=-1))  # (n_heads,): the head (position) read most
    (values_of, keys_of), head = reads, np.arange(n_heads)
    grouped, tiled = head * n_kv_heads // n_heads, head % n_kv_heads
    title = {(True, True): TILED, (True, False): VALUES_TILED, (False, True): KEYS_TILED}.get(
        ((values_of == tiled).all(), (keys_of == tiled).all()))
    if title is None or not ((values_of == tiled) | (values_of == grouped)).all() or not (
            (keys_of == tiled) | (keys_of == grouped)).all():
        return None
    line = (f"evidence: query heads 0-{n_heads - 1} weigh the keys of key/value heads {', '.join(map(str, keys_of))} and "
            f"average the values of {', '.join(map(str, values_of))}; the contract: {', '.join(map(str, grouped))} "
            "(one key position standing out in each head's keys; each head's values a unit vector of its own)")
    return Finding("kv heads", {"keys_of": keys_of.tolist(), "values_of": values_of.tolist()}, (line,), (title,),
                   why="which key/value head each query head reads", whole=False)


def _sees_data(seen, expected):
    """The records' numbers: the ranges of keys each query sees, in the first batch row (or leading index)."""
    first = seen.reshape(-1, *seen.shape[-2:])[0] > 0
    wanted = np.broadcast_to(expected, seen.shape).reshape(-1, *seen.shape[-2:])[0] > 0
    return {"sees": [_ranges(row) for row in first], "expected_sees": [_ranges(row) for row in wanted]}


def _by_head(impl, probe, observe):
    """The groups of heads that see alike, each head measured alone (the other heads' rows of w_o
    set to zero); None when the heads all see alike, or a head cannot be measured."""
    named = probe.call.named()
    n_heads, w_o = named["n_heads"], named["params"]["w_o"]
    width = w_o.shape[0] // n_heads
    if n_heads < 2:
        return None
    heads = []
    for head in range(n_heads):
        alone = np.zeros_like(w_o)
        alone[head * width : (head + 1) * width] = w_o[head * width : (head + 1) * width]
        one = probed(impl, probe.call.replaced({**named, "params": {**named["params"], "w_o": alone}}), observe)
        if one is None:
            return None
        seen = _sees(one, lambda changed: _observed(impl, changed, observe))
        expected = _sees(one, lambda changed: np.asarray(observe(_answer(EXACT, changed)), dtype=np.float64))
        rows = None if seen is None or expected is None else _grouped(seen, expected, "batch row")
        if rows is None:
            return None
        wrong = [fits for *_, fits in rows if fits]
        fits = tuple(words for words in (wrong[0] if wrong else ()) if all(words in other for other in wrong))
        where, row, want, _ = next((group for group in rows if group[3]), rows[0])
        heads.append((bool(wrong), fits, row, want))
    kinds = list(dict.fromkeys((wrong, fits) for wrong, fits, _, _ in heads))
    if len(kinds) < 2:
        return None
    groups = []
    for wrong, fits in kinds:
        members = [h for h, (w, f, _, _) in enumerate(heads) if (w, f) == (wrong, fits)]
        _, _, row, want = heads[members[0]]
        groups.append((_plural("head", members), row, want, fits if wrong else ()))
    return groups


def decoding_visibility(impl, decoding):
    """Which earlier positions each decoded position sees, the sequence fed in the check's pieces,
    queries set to zero (w_q = 0); the contract's: every position up to itself. A longer sequence
    is measured on its first MOST_FED positions, fed in the same pieces."""
    rng = np.random.default_rng(SEED)
    params = {key: rng.standard_normal(w.shape) / math.sqrt(w.shape[0]) for key, w in decoding.params.items()}
    params["w_q"] = np.zeros_like(params["w_q"])
    batch, length, width = decoding.x.shape
    shortened = length > MOST_FED
    fed = _Fed(decoding, cast_floats(rng.standard_normal((batch, min(length, MOST_FED), width)), decoding.dtype),
               cast_floats(params, decoding.dtype))
    expected = fed.answer(EXACT)
    allowed = impl.allowance.allowed(expected)
    base = fed.answer(impl)
    if base is None or base.shape != expected.shape:
        return None
    if shortened and (excess_over(base, expected, allowed) <= 1).all():
        return None  # the mistake shows only on longer sequences (a tile's edge): nothing here measures it
    seen, wanted = [], []
    for j in range(fed.x.shape[1]):
        changed = fed.with_x(_bumped(fed.x, (slice(None), j, slice(None))))
        after = changed.answer(impl)
        if after is None or after.shape != base.shape:
            return None
        seen.append(_moved(excess_over(after, base, allowed)))
        wanted.append(_moved(excess_over(changed.answer(EXACT), expected, allowed)))
    seen, wanted = np.stack(seen, axis=-1), np.stack(wanted, axis=-1)
    measured = Finding("visibility", {}, (), probes=((fed, base, allowed),), whole=False)
    groups = _grouped(seen, wanted, "batch row")
    if groups is None or (seen == wanted).all() or not (seen > 0).any():  # nothing seen: the blinding silenced it
        return measured
    first = f"the first {MOST_FED} positions " if shortened else ""
    lines = tuple(f"evidence: {line}".replace("query", "position").replace("key", "position")
                  for line in _visibility_lines(groups, f"{first}fed in {_pieces_words(fed.pieces)}; measured by "
                                                        "changing one position at a time, w_q set to zero"))
    titles = _visibility_titles(groups)
    if ONLY_OWN in titles and all(end - start == 1 for start, end in fed.pieces):
        # fed one position at a time, no position comes after a step yet: a causal triangle turned
        # over leaves each its own alone, as a cache that keeps nothing does
        titles = (*titles, TURNED_OVER)
    return replace(measured, data=_sees_data(seen, wanted), lines=lines, titles=titles,
                   why="which positions each output depends on")


def _pieces_words(pieces):
    """ "pieces of 1 position", or the pieces' spans when they differ in length: "pieces 0-3, 4-4"."""
    lengths = {end - start for start, end in pieces}
    if len(lengths) == 1:
        (length,) = lengths
        return f"pieces of {length} position{'s' if length > 1 else ''}"
    return "pieces " + ", ".join(f"{start}-{end - 1}" for start, end in pieces)


class _Fed:
    """A decoder fed the sequence x in a decoding's pieces, each call passing back the cache."""

    def __init__(self, decoding, x, params):
        self.decoding, self.x, self.params = decoding, x, params
        self.capability = decoding.capability
        # the decoding's pieces, cut where x ends (the kit may feed fewer positions than the check did)
        self.pieces = [(start, min(end, x.shape[1])) for start, end in decoding.pieces() if start < x.shape[1]]

    def with_x(self, x):
        return _Fed(self.decoding, x, self.params)

    def answer(self, namespace):
        """The outputs side by side: the formulas' causal forward, or the decoder's piece by piece
        (None when a call fails or returns no (output, cache))."""
        from attention_conformance.calls import Call

        n_heads = self.decoding.n_heads
        if namespace is EXACT:
            return EXACT.causal_self_attention(cast_floats(self.x, np.float64), cast_floats(self.params, np.float64),
                                               n_heads)
        cache, outputs = None, []
        for start, end in self.pieces:
            call = Call(self.capability, self.x[:, start:end], self.params, n_heads, cache, dtype=self.decoding.dtype)
            if hasattr(namespace, "allowance"):  # the implementation under test: isolated, as every call of it
                result, problem, _ = call.attempt(namespace)
            else:
                result, problem = _answer(namespace, call), None
            if problem or not (isinstance(result, (tuple, list)) and len(result) == 2):
                return None
            try:
                outputs.append(np.asarray(result[0], dtype=np.float64))
            except (TypeError, ValueError):
                return None
            cache = result[1]
        return np.concatenate(outputs, axis=1) if all(o.ndim == 3 for o in outputs) else None


def precision(impl, call, observe, got, expected, answers):
    """In float16 and bfloat16: the output is within the budget the plain formulas would have if
    they accumulated every sum in the dtype, term by term, though not within the real one."""
    if impl.dtype not in ("float16", "bfloat16") or got.shape != expected.shape or _size(call) > MOST_TERMWISE:
        return None
    try:
        accumulating = np.asarray(observe(_answer(Formulas(impl.dtype, sums_in_dtype=True, products_in_dtype=True),
                                                  call)), dtype=np.float64)
    except Exception:
        return None
    if accumulating.shape != expected.shape:
        return None
    missed = float(impl.allowance.excess(got, expected, answers).max())
    within = excess_over(got, expected, impl.allowance.allowed(expected, (*(answers or ()), accumulating)))
    if missed <= 1 or not (within <= 1).all() or not _conforms_in_float32(impl, call, observe):
        return None
    dtype = impl.dtype
    line = (f"evidence: the output misses the {dtype} budget by {missed:.3g} times, and is within {BUDGET_MULTIPLE:g} x "
            f"the error of the plain formulas with every sum accumulated in {dtype}, term by term ("
            f"{float(within.max()):.3g} of that): the implementation accumulates its sums in {dtype} (np.einsum does, "
            f"on {dtype} arrays); accumulate in float32, as np.matmul and @ do, or np.einsum(..., dtype=np.float32)")
    return Finding("precision", {"accumulates_in": dtype, "budget_missed_by": missed}, (line,),
                   (f"sums accumulated in {dtype}",), why="a precision finding, not a mistake of the formulas")


# The dtypes narrower than a run's, the fewest significant bits first: a bfloat16 number (8 bits)
# of float16's range is also a float16 number (11 bits), and both are float32 numbers.
NARROWER = {"float64": ("bfloat16", "float16", "float32"), "float32": ("bfloat16", "float16")}


def narrower(impl, call, observe, got, expected):
    """In float64 and float32 runs: every value of the output is a number of a narrower dtype and
    the output is within that dtype's allowance (its plain formulas, or below float32 with every
    sum accumulated in it): the implementation computes in that dtype."""
    if got.shape != expected.shape or not np.isfinite(got).any() or _size(call) > MOST_TERMWISE:
        return None
    for dtype in NARROWER.get(impl.dtype, ()):
        try:
            held = _held_by(got, dtype)
        except ImportError:  # bfloat16 without ml_dtypes: the kit cannot round to it
            continue
        if held:
            return _computed_in(dtype, impl, call, observe, got, expected)
    return None


def _held_by(values, dtype):
    """Every value is a number of `dtype`."""
    if dtype == "bfloat16":
        import ml_dtypes  # noqa: F401  (teaches numpy the name "bfloat16")
    return np.array_equal(Formulas(dtype).round(values), values, equal_nan=True)


def _computed_in(dtype, impl, call, observe, got, expected):
    """The finding that the output, whose values are all `dtype` numbers, was computed in `dtype`
    (None when it misses that dtype's allowance too: a mistake of the formulas besides)."""
    formulas = plain(dtype, call.capability) + (() if dtype == "float32" else (Formulas(dtype, sums_in_dtype=True, products_in_dtype=True),))
    try:
        answers = tuple(np.asarray(observe(_answer(each, call)), dtype=np.float64) for each in formulas)
    except Exception:
        return None
    within = float(allowance(dtype, call.capability).excess(got, expected, answers).max())
    if within > 1:
        return None
    missed = float(impl.allowance_of(call.capability).excess(got, expected).max())
    line = (f"evidence: every value of the output is a {dtype} number, and the output is within {dtype}'s allowance of "
            f"the contract's answer ({within:.3g} of it) while it misses {impl.dtype}'s by {missed:.3g} times: the "
            f"implementation computes in {dtype} (a cast, or a library's default); compute in the inputs' dtype")
    return Finding("precision", {"computes_in": dtype, "run_dtype": impl.dtype, "missed_by": missed}, (line,),
                   (f"computing in {dtype} inside a {impl.dtype} run",), why="a precision finding, not a mistake of the formulas")


def _conforms_in_float32(impl, call, observe):
    """The same call, its inputs cast to float32, within float32's allowance: a rounding finding
    shrinks with the dtype's rounding, a mistake of the formulas does not (a mask left out of
    some heads misses by as much in float32). False where the declaration rules float32 out."""
    if not hasattr(call, "named"):
        return False
    wider = call.replaced({name: cast_floats(value, "float32") if name != "mask" else value
                           for name, value in call.named().items()})
    wider.dtype = "float32"
    if impl.declaration.rules_out(wider.limits(), "float32"):
        return False
    seen = _observed(impl, wider, observe)
    expected = np.asarray(observe(_answer(EXACT, wider)), dtype=np.float64)
    if seen is None or seen.shape != expected.shape:
        return False
    answers = tuple(np.asarray(observe(_answer(formulas, wider)), dtype=np.float64) for formulas in plain("float32", wider.capability))
    return bool((allowance("float32", wider.capability).excess(seen, expected, answers) <= 1).all())


HIDDEN_BELOW = -1e4  # a mask entry at or below it hides its key


def mask_visibility(got, expected):
    """A mask's own visibility: the keys it leaves finite, against the contract's."""
    if got.shape != expected.shape or got.ndim != 2:
        return None
    # A large finite fill (-1e9, finfo.min) hides a key as -inf does: exp() of it is 0 in every dtype.
    # Such a mask sees what the contract's sees; what differs is its fill (the catalogue's look-alike).
    seen, wanted = np.isfinite(got) & (got > HIDDEN_BELOW), np.isfinite(expected)
    if (seen == wanted).all():
        return _finite_fill(got, wanted)
    groups = [("", seen, wanted, tuple(_patterns(seen, wanted)))]
    data = {"sees": [_ranges(row) for row in seen], "expected_sees": [_ranges(row) for row in wanted]}
    lines = tuple(f"evidence: {line}" for line in _visibility_lines(groups, "the entries it leaves finite"))
    return Finding("visibility", data, lines, _visibility_titles(groups), why="which entries the mask leaves finite", whole=False)


def roles(impl, call, observe):
    """A parameter or input in another's place, transposed, or left out."""
    if call.capability not in LAYERS:
        return None
    probes = [probe for probe in (probed(impl, _drawn(call), observe), probed(impl, _drawn(call, seed=SEED + 1), observe))
              if probe]
    if len(probes) < 2:
        return None
    found = [(words, data) for words, data, change in _substitutions(call)
             if all(probe.reproduced_by(Changed(change), observe) for probe in probes)]
    if len(found) != 1:  # none, or several that give the same answer: nothing singled out
        return None
    (words, data), = found
    line = f"evidence: the output is what the formulas give with {words}, on two sets of inputs the kit drew (seeds {SEED}, {SEED + 1})"
    return Finding("roles", data, (line,), (words,), tuple(probe.kept() for probe in probes))


# --- models: the formulas with one thing changed ------------------------------------------------


class Scaled(Formulas):
    """The formulas with the scores scaled by `factor` instead of 1/sqrt(d_k) (computed exactly, or
    the plain way in `dtype`)."""

    def __init__(self, factor, dtype=None):
        super().__init__(dtype)
        self.factor = factor

    def scale(self, d_k):
        return self.factor


class Changed(Formulas):
    """The formulas with the arguments of every call changed by `change(named) -> named`."""

    def __init__(self, change):
        super().__init__()
        self.change = change

    def _attend(self, x, context, params, n_heads, n_kv_heads, mask):
        named = self.change({"x": x, "context": context, "params": params})
        return super()._attend(named["x"], named["context"], named["params"], n_heads, n_kv_heads, mask)


def _substitutions(call):
    """(words, data, change) for each parameter in another's place, transposed, or left out, and
    for the context replaced by x."""
    params = call.named()["params"]
    names = [name for name in ("w_q", "w_k", "w_v", "w_o") if name in params]
    for name in names:
        for other in names:
            if other != name and params[other].shape == params[name].shape:
                yield (f"{other} where {name} belongs", {"role": name, "computed_from": other},
                       _with_param(name, lambda p, other=other: p[other]))
        if params[name].shape[0] == params[name].shape[1]:
            yield f"{name} transposed", {"role": name, "transposed": True}, _with_param(name, lambda p, name=name: p[name].T)
    square = [name for name in names if params[name].shape[0] == params[name].shape[1]]
    if len(square) > 1:  # every weight loaded the other way round (an nn.Linear fed x @ w's weights)
        yield (f"{', '.join(square[:-1])} and {square[-1]} transposed", {"role": square, "transposed": True},
               lambda named: {**named, "params": {**named["params"], **{n: named["params"][n].T for n in square}}})
    if params["w_o"].shape[0] == params["w_o"].shape[1]:
        yield ("the output projection w_o left out", {"role": "w_o", "left_out": True},
               _with_param("w_o", lambda p: np.eye(p["w_o"].shape[0])))
    named = call.named()
    if "context" in named and named["context"].shape == named["x"].shape:
        yield ("keys and values computed from x instead of context", {"role": "context", "computed_from": "x"},
               lambda n: {**n, "context": n["x"]})


def _with_param(name, value):
    return lambda named: {**named, "params": {**named["params"], name: value(named["params"])}}


# --- probes: a call of the implementation on inputs the kit chose -------------------------------


@dataclass
class _Probe:
    impl: object
    call: object
    seen: np.ndarray
    allowed: np.ndarray
    expected: np.ndarray

    def reproduced_by(self, namespace, observe):
        """The model's answer matches what the implementation gave, within the allowance."""
        try:
            would = np.asarray(observe(_answer(namespace, self.call)), dtype=np.float64)
        except Exception:
            return False
        return would.shape == self.seen.shape and bool((excess_over(self.seen, would, self.allowed) <= 1).all())

    def kept(self):
        return self.call, self.seen, self.allowed

    def around(self, model, observe):
        """The probe allowing, besides the contract's allowance, what rounding allows around the
        answer of `model(dtype)` (formulas with one thing changed) computed the plain way in the
        run's dtype: a larger scale sharpens the softmax, and its rounding grows with it."""
        if self.impl.dtype == "float64":
            return self
        try:
            exact = np.asarray(observe(_answer(model(None), self.call)), dtype=np.float64)
            rounded = np.asarray(observe(_answer(model(self.impl.dtype), self.call)), dtype=np.float64)
        except Exception:
            return self
        if exact.shape != self.seen.shape or rounded.shape != exact.shape:
            return self
        return replace(self, allowed=np.maximum(self.allowed, self.impl.allowance.allowed(exact, (rounded,))))


def probed(impl, call, observe):
    """The implementation's answer to `call`, what the contract expects and allows, or None when
    the call is ruled out by its declaration, fails, or comes back in another shape."""
    if call is None or impl.declaration.rules_out(call.limits(), impl.dtype):
        return None
    seen = _observed(impl, call, observe)
    expected = np.asarray(observe(_answer(EXACT, call)), dtype=np.float64)
    if seen is None or seen.shape != expected.shape:
        return None
    answers = None
    if impl.allowance.needs_plain:
        answers = tuple(np.asarray(observe(_answer(formulas, call)), dtype=np.float64) for formulas in plain(impl.dtype, call.capability))
    return _Probe(impl, call, seen, impl.allowance.allowed(expected, answers), expected)


def _observed(impl, call, observe):
    result, problem, _ = call.attempt(impl)
    if problem:
        return None
    try:
        return np.asarray(observe(result), dtype=np.float64)
    except Exception:
        return None


def _answer(namespace, call):
    """What another implementation of the contract answers, its inputs in float64 (uncached, unlike Call.on)."""
    if isinstance(call, _Fed):
        return call.answer(namespace)
    return getattr(namespace, call.capability)(*(cast_floats(a, np.float64) for a in call.args),
                                               **{k: cast_floats(v, np.float64) for k, v in call.kwargs.items()})


def _drawn(call, blind=False, resize=None, seed=SEED):
    """The call with its float inputs drawn afresh so that the contract's scores are about 1 (and
    its queries zero, when `blind`: every key the mask lets through then weighs the same)."""
    rng = np.random.default_rng(seed)
    named = call.named()
    resize = resize or (lambda name, shape: shape)
    for name, value in named.items():
        if isinstance(value, dict):
            named[name] = {key: rng.standard_normal(resize(key, w.shape)) / math.sqrt(resize(key, w.shape)[0])
                           for key, w in value.items()}
            if blind:
                named[name]["w_q"] = np.zeros_like(named[name]["w_q"])
        elif floating(value) and name != "mask":
            named[name] = rng.standard_normal(resize(name, value.shape))
            if blind and name == "q":
                named[name] = np.zeros_like(named[name])
    named = {name: cast_floats(value, call.dtype) if name != "mask" else value for name, value in named.items()}
    return call.replaced(named)


def _resized(impl, call):
    """The call on other sizes, drawn afresh: twice the head width and, without a mask, two more
    queries and three more keys; None when the declaration rules every such call out."""
    named = call.named()
    masked = named.get("mask") is not None
    if call.capability in QUERIED:  # twice the head width; the lengths are bound to the tables and offsets
        resized = _drawn(call, resize=lambda name, shape: (*shape[:-1], 2 * shape[-1]) if name in HEAD_WIDTHS else shape)
        return None if impl.declaration.rules_out(resized.limits(), impl.dtype) else resized
    if call.capability == "scaled_dot_product_attention":
        for d_v in (named["v"].shape[-1] + 3, 2 * named["q"].shape[-1]):  # every size changes, by its own factor
            def resize(name, shape, d_v=d_v):
                length = 0 if masked else (2 if name == "q" else 3)
                width = d_v if name == "v" else 2 * shape[-1]
                return (*shape[:-2], shape[-2] + length, width)
            resized = _drawn(call, resize=resize)
            if not impl.declaration.rules_out(resized.limits(), impl.dtype):
                return resized
        return None

    def resize(name, shape):
        if name in ("x", "context"):
            return (shape[0], shape[1] + (0 if masked or call.capability == "cross_attention" and name == "x" else 2),
                    2 * shape[2])
        return tuple(2 * size for size in shape)  # every axis of a weight is proportional to d_model
    resized = _drawn(call, resize=resize)
    too_large = _largest_weight(resized) > MOST_WEIGHTS
    return None if too_large or impl.declaration.rules_out(resized.limits(), impl.dtype) else resized


def _shortened(call):
    """The call on its first MOST_POSITIONS queries and keys (and its mask's top-left block), when longer."""
    named = dict(call.named())
    axes = {"q": -2, "k": -2, "v": -2} if call.capability == "scaled_dot_product_attention" else {"x": 1, "context": 1}
    if all(name not in named or named[name].shape[axis] <= MOST_POSITIONS for name, axis in axes.items()):
        return call
    for name, axis in axes.items():
        if name in named:
            index = [slice(None)] * named[name].ndim
            index[axis] = slice(0, MOST_POSITIONS)
            named[name] = named[name][tuple(index)]
    mask = named.get("mask")
    if mask is not None:
        mask = np.asarray(mask)
        named["mask"] = mask[..., : min(mask.shape[-2], MOST_POSITIONS), : min(mask.shape[-1], MOST_POSITIONS)]
    return call.replaced(named)


# --- scale: fitting and saying the factor -------------------------------------------------------


def _fit(output, seen):
    """The factor s > 0 that brings output(s) closest to `seen` (least squares over log s), or None:
    a grid from 1e-3 to 1e3, then a golden-section search around its best point."""
    def loss(log_s):
        with np.errstate(all="ignore"):
            got = np.asarray(output(math.exp(log_s)), dtype=np.float64)
        if got.shape != seen.shape:
            return math.inf
        value = float(np.sum((got - seen) ** 2))
        return value if math.isfinite(value) else math.inf

    grid = np.linspace(math.log(1e-3), math.log(1e3), 29)
    losses = [loss(point) for point in grid]
    best = int(np.argmin(losses))
    if not math.isfinite(losses[best]):
        return None
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    golden = (math.sqrt(5) - 1) / 2
    a, b = high - golden * (high - low), low + golden * (high - low)
    at_a, at_b = loss(a), loss(b)
    for _ in range(40):  # each step keeps 0.618 of the bracket: 1e-9 of it after 40
        if at_a < at_b:
            high, b, at_b = b, a, at_a
            a = high - golden * (high - low)
            at_a = loss(a)
        else:
            low, a, at_a = a, b, at_b
            b = low + golden * (high - low)
            at_b = loss(b)
    return math.exp((low + high) / 2)


def _sizes(call):
    """The sizes of a call a scale may be made of, by name."""
    named = call.named()
    if call.capability in SDPA_LAYOUT:
        q, k, v = named["q"], named["k"], named["v"]
        return {"d_k": q.shape[-1], "d_v": v.shape[-1], "the number of queries": q.shape[-2],
                "the number of keys": k.shape[-2]}
    if call.capability in QUERIED:
        return {"d_k": named["q"].shape[-1], "d_v": named.get("v", named.get("v_pages")).shape[-1]}
    x, n_heads = named["x"], named["n_heads"]
    keys = named["context"] if "context" in named else x
    return {"d_k": x.shape[-1] // n_heads, "d_model": x.shape[-1], "n_heads": n_heads, "the number of queries": x.shape[1],
            "the number of keys": keys.shape[1]}


POWERS = ((-0.5, "1/sqrt({})"), (-1.0, "1/{}"), (0.5, "sqrt({})"), (1.0, "{}"))


# How far a fitted factor may be from an expression's value for the expression to be tried: the fit
# is as good as the implementation's rounding lets it be (the reproduction then decides).
FIT_TOLERANCE = {"float64": 1e-5, "float32": 1e-4, "float16": 3e-2, "bfloat16": 3e-2}


def _size_expressions(call):
    """(words, sizes -> factor) for each size of the call to each power of POWERS, then 1."""
    for power, template in POWERS:
        for name in _sizes(call):
            yield template.format(name), lambda sizes, name=name, power=power: sizes[name] ** power
    yield "1 (not scaled)", lambda sizes: 1.0


def _constants(fitted):
    """(words, value) of the constants 1/sqrt(n) and 1/n (n up to 4096) nearest a fitted factor, the
    roundest of those first (a power of two, then the fewest significant digits): where the dtype's
    precision cannot tell 1/sqrt(64) from 1/sqrt(65), the code more likely holds 64."""
    constants = [*((f"a constant 1/sqrt({n})", n**-0.5, n) for n in range(2, 4097)),
                 *((f"a constant 1/{n}", 1 / n, n) for n in range(2, 4097))]
    nearest = sorted(constants, key=lambda constant: abs(math.log(constant[1] / fitted)))[:3]
    def roundness(constant):  # of n in 1/sqrt(n) (of n squared in 1/n: 1/sqrt(64) before its equal 1/8)
        m = constant[2] if "sqrt" in constant[0] else constant[2] ** 2
        return m & (m - 1) != 0, len(str(m).rstrip("0")), m

    return [(words, value) for words, value, _ in sorted(nearest, key=roundness)]


# --- visibility: which keys each query's output depends on --------------------------------------


def _keys(call):
    named = call.named()
    if call.capability in SDPA_LAYOUT:
        return named["k"].shape[-2]
    return named["context" if "context" in named else "x"].shape[1]


def _sees(probe, answer):
    """sees[..., i, j]: the output at query i moves when key j changes (keys and values at once); None
    when an answer is missing. Moved: by more than 10 times the allowance; still: within it."""
    call = probe.call
    named = call.named()
    base = answer(call)
    if base is None:
        return None
    columns = []
    for j in range(_keys(call)):
        changed = dict(named)
        if call.capability in SDPA_LAYOUT:
            for name in ("k", "v"):
                changed[name] = _bumped(named[name], (..., j, slice(None)))
        else:
            name = "context" if "context" in named else "x"
            changed[name] = _bumped(named[name], (slice(None), j, slice(None)))
        after = answer(call.replaced(changed))
        if after is None or after.shape != base.shape:
            return None
        excess = excess_over(after, base, probe.allowed)
        columns.append(_moved(excess))
    return np.stack(columns, axis=-1)  # (..., queries, keys): 1 moved, 0 still, -1 in between


def _moved(excess):
    """Per query row (features reduced): 1 if it moved, 0 if it stayed within the allowance, -1 in between."""
    top = excess.max(axis=-1)
    return np.where(top > 10, 1, np.where(top <= 1, 0, -1))


def _bumped(array, where):
    """A copy with array[where] moved by BUMP: the queries are zero, so the output moves in proportion
    (a visible key among n moves its query's output by about BUMP / n), far above bfloat16's rounding."""
    changed = np.array(array, copy=True)
    changed[where] = (np.asarray(changed[where], dtype=np.float64) + BUMP).astype(array.dtype)
    return changed


def _grouped(seen, expected, lead_name):
    """[(where, sees, expected, descriptions)] grouping the leading indices that see alike; None if
    any measure is in between (moved a little: no claim)."""
    if (seen < 0).any() or (expected < 0).any():
        return None
    seen, expected = seen.astype(bool), np.broadcast_to(expected.astype(bool), seen.shape)
    if seen.ndim > 3:  # alike along the other leading axes (heads): grouped by batch row
        by_row, wanted = (a.reshape(a.shape[0], -1, *a.shape[-2:]) for a in (seen, expected))
        if (by_row == by_row[:, :1]).all() and (wanted == wanted[:, :1]).all():
            seen, expected, lead_name = by_row[:, 0], wanted[:, 0], "batch row"
    flat_seen = seen.reshape(-1, *seen.shape[-2:])
    flat_expected = np.broadcast_to(expected, seen.shape).reshape(-1, *seen.shape[-2:])
    groups = []
    for index, (row, want) in enumerate(zip(flat_seen, flat_expected)):
        for group in groups:
            if (group[1] == row).all() and (group[2] == want).all():
                group[0].append(index)
                break
        else:
            groups.append([[index], row, want])
    if len(groups) == 1:
        return [("", groups[0][1], groups[0][2], tuple(_patterns(groups[0][1], groups[0][2])))]
    return [(_plural(lead_name, where), row, want, tuple(_patterns(row, want))) for where, row, want in groups]


def _plural(name, indices):
    """ "head 0", "heads 1-3", "leading indices 0-1"."""
    plural = {"leading index": "leading indices"}.get(name, name + "s")
    return f"{plural if len(indices) > 1 else name} {span(indices)}"


def _patterns(sees, expected):
    """Words for each description that fits how one (queries, keys) visibility differs from the
    contract's (several on small inputs: on two positions, seeing the next one is seeing all)."""
    if (sees == expected).all():
        return []
    lq, lk = sees.shape
    fits = []
    if sees.all():
        fits.append(NOT_APPLIED)
    if not sees.any():
        fits.append("no query sees any key (the output does not depend on the keys and values)")
    elif (sees == ~expected).all():
        fits.append("the mask is inverted (each query sees exactly the keys it must not)")
    elif turned_over(sees, expected):
        fits.append(TURNED_OVER)
    if own_alone(sees, expected):
        fits.append(ONLY_OWN)
    if lq == lk:
        if (sees == (expected & ~np.eye(lq, dtype=bool))).all():
            fits.append("each query is hidden from its own position (the diagonal is masked)")
        if (sees == (expected | np.eye(lq, k=1, dtype=bool))).all():
            fits.append("each position also sees the next one (an off-by-one in the mask)")
        widths, wanted = _windows(sees), _windows(expected)
        if widths is not None and wanted and widths != wanted:  # the numbers are in the evidence line
            if wanted == lq:  # the contract's is causal: the window's own width says it whatever the length
                fits.append(f"a sliding window of {widths} position{'s' if widths != 1 else ''} where the mask is causal")
            wider = widths - wanted
            fits.append(f"a sliding window {abs(wider)} position{'s' if abs(wider) > 1 else ''} "
                        f"{'wider' if wider > 0 else 'narrower'} than the contract's")
    if not fits:
        if (sees >= expected).all():
            fits.append("queries see keys the contract hides")
        elif (sees <= expected).all():
            fits.append("queries do not see keys the contract shows them")
        else:
            fits.append("queries see other keys than the contract's")
    return fits


NOT_APPLIED = "the mask is not applied (every query sees every key)"
# the same, where the callable is given the mask itself (a scaled_dot_product_attention's `mask`):
# the mask it was passed is what it leaves out, not one it builds
ARGUMENT_IGNORED = "the mask passed in hides no key (every query sees every key)"
# and where the mask is causal by the contract and built by the callable (a causal layer, packed sequences)
NOT_MASKED = "the causal mask is not applied (each query sees every key of its sequence)"
TURNED_OVER = "the causal triangle is turned over (queries see keys after their own, not before)"
ONLY_OWN = "each query sees its own key alone"


def turned_over(sees, expected, offset=0):
    """Whether the contract shows each query i keys up to i + offset, and `sees` holds only keys
    from i + offset on: the triangle kept upside down (tril for triu). Either the contract shows
    some keys before and `sees` some after, with or without the diagonal; or `sees` is exactly the
    turned triangle with its diagonal (where no key comes after, a decoding step's one query, it
    is the query's own key alone: ONLY_OWN fits too)."""
    lq, lk = sees.shape
    before, after = np.tri(lq, lk, k=offset - 1, dtype=bool), ~np.tri(lq, lk, k=offset, dtype=bool)
    if (expected & after).any() or (sees & before).any():
        return False
    return bool((expected & before).any() and (sees & after).any() or (sees == ~before).all() and (sees != expected).any())


def own_alone(sees, expected, offset=0):
    """Whether each query i sees key i + offset alone, where the contract shows it others."""
    lq, lk = sees.shape
    return bool((sees == np.eye(lq, lk, k=offset, dtype=bool)).all() and (sees != expected).any())


def _windows(sees):
    """The width w when each query i sees exactly keys max(0, i - w + 1)..i (a sliding window; 0: none), else None."""
    n = sees.shape[0]
    for width in range(0, n + 1):
        band = np.tri(n, dtype=bool) & ~np.tri(n, k=-width, dtype=bool)
        if (sees == band).all():
            return width
    return None


def _finite_fill(got, wanted):
    """The mask hides the contract's keys, with a finite number where the contract has -inf."""
    hidden = got[~wanted]
    if not hidden.size or not np.isfinite(hidden).all():
        return None
    fill = float(hidden.max())
    line = (f"evidence: every key the contract hides is hidden, but holds {fill:g} (the most; the least "
            f"{float(hidden.min()):g}) where the contract's mask has -inf")
    return Finding("visibility", {"fill": fill}, (line,), (f"hidden keys filled with {fill:g}, not -inf",),
                   why="which entries the mask leaves finite", whole=False)


def _visibility_titles(groups):
    """The descriptions that fit every group that differs from the contract (and where the
    contract's visibility holds, when some groups keep it)."""
    described = [(where, fits) for where, _, _, fits in groups]
    wrong = [fits for _, fits in described if fits]
    if not wrong:
        return ()
    common = [words for words in wrong[0] if all(words in fits for fits in wrong)]
    if not common:
        return ("queries see other keys than the contract's",)
    right = [where for where, fits in described if not fits]
    return tuple(f"{words}, except in {', '.join(right)}" if right else words for words in common)


def _visibility_lines(groups, how):
    lines = []
    for where, row, want, _ in groups:
        differs = np.flatnonzero((row != want).any(axis=1))
        if not differs.size:
            lines.append(f"{where}: queries see what the contract lets them see" if where else "")
            continue
        i = int(differs[0])
        lines.append(f"{where + ': ' if where else ''}query {i} sees {_keys_words(row[i])}; the contract "
                     f"lets it see {_keys_words(want[i])} ({differs.size} of {row.shape[0]} queries differ; {how})")
    return [line for line in lines if line]


def _keys_words(row):
    return f"keys {span(np.flatnonzero(row))}" if row.any() else "no key"


def _ranges(row):
    """[[first, last], ...] of the True runs of a boolean row."""
    found, start = [], None
    for j, on in enumerate([*map(bool, row), False]):
        if on and start is None:
            start = j
        elif not on and start is not None:
            found.append([start, j - 1])
            start = None
    return found


def span(indices):
    """Words for a set of indices: "none", "0-2", "0-2, 5"."""
    runs = _ranges(np.isin(np.arange(max(indices, default=-1) + 1), indices))
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs) or "none"


# --- sizes ---------------------------------------------------------------------------------------


def _largest_weight(call):
    params = call.named().get("params")
    return max((np.size(w) for w in params.values()), default=0) if isinstance(params, dict) else 0


def _size(call):
    """How many numbers the call's arrays hold, roughly: the largest argument's size."""
    values = [getattr(call, "x", None), *getattr(call, "args", ())]
    return max((np.size(value) for value in values if isinstance(value, np.ndarray)), default=0)


def _scores(call):
    """How many attention scores the call computes."""
    named = call.named()
    if call.capability == "scaled_dot_product_attention":
        q, k = named["q"], named["k"]
        return int(np.prod(np.broadcast_shapes(q.shape[:-1], k.shape[:-2] + (1,)))) * k.shape[-2]
    x = named["x"]
    return x.shape[0] * named["n_heads"] * x.shape[1] * _keys(call)


def _described(call):
    return ", ".join(f"{name}={'x'.join(map(str, value.shape))}" for name, value in call.named().items()
                     if isinstance(value, np.ndarray) and name != "mask")
