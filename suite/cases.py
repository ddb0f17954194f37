"""The inputs of the checks: drawn from a seed by a builder of this module, described by a few
numbers, adapted to what the implementation declares, and reproducible in a plain Python prompt
(`attention_inputs(seed=12, dtype="float32", ...)` gives the very arrays a check used).

Builders draw in float64 from `numpy.random.default_rng(seed)` and cast to the dtype under test.
Style "dominant" makes structural errors loud: a few keys (the first, the last, one in every
stretch of 16 or so) each dominate the attention of the queries that look for them, and carry a
distinct value. A kernel that drops, misplaces or mis-scales one key or one tile of keys then
moves some output by about 3, far above any rounding (docs/contract.md, "Cases").
"""

import math
from dataclasses import dataclass, field, replace

import numpy as np

from attention_conformance.contract import KEYWORD_ONLY, SIGNATURES
from attention_conformance.oracle import EXACT

PARAMS = ("w_q", "w_k", "w_v", "w_o")


def _generator(seed):
    return np.random.default_rng(seed)


def _cast(dtype, *arrays):
    if dtype == "bfloat16":
        import ml_dtypes  # noqa: F401  (teaches numpy the name "bfloat16")
    return [None if a is None else np.asarray(a, dtype=np.float64).astype(dtype) for a in arrays]


def floating(value):
    """Whether a value is an array of floating-point numbers (bfloat16 too: numpy files it as kind "V")."""
    return isinstance(value, np.ndarray) and (value.dtype.kind == "f" or value.dtype.name == "bfloat16")


def cast_floats(value, dtype):
    """A value with its float arrays (also inside a dict: params) cast to dtype; the rest as it is."""
    if isinstance(value, dict):
        return {key: cast_floats(item, dtype) for key, item in value.items()}
    if floating(value):
        return value.astype(dtype)
    return value


def logits(seed, dtype, shape, scale=1.0):
    """{"x"}: standard normal logits of `shape`, times `scale`."""
    (x,) = _cast(dtype, scale * _generator(seed).standard_normal(shape))
    return {"x": x}


def features(seed, dtype, shape):
    """{"x"}: standard normal features of `shape` (for split_heads, merge_heads)."""
    (x,) = _cast(dtype, _generator(seed).standard_normal(shape))
    return {"x": x}


def attention_inputs(seed, dtype, lead, lq, lk, d_k, d_v, mask=None, style="normal", shared_kv=False):
    """{"q", "k", "v", "mask"}: q (*lead, lq, d_k), k (*lead, lk, d_k), v (*lead, lk, d_v).

    mask: None; "causal" (lq == lk); "padding": batch row b hides its last b + 1 keys, broadcast
    over the other axes; "unseen": as "padding", but batch row 0 sees no key at all; "window:W":
    the sliding window of W positions. style: "normal";
    "dominant" (see the module's docstring); "large": scores of about +-1000, all of the first
    query's positive, all of the last one's negative; "ones": v = 1, so that each output row is
    the sum of its weights. shared_kv: k and v keep only the first of the last leading axis (1
    there), shared by every query of it through broadcasting.
    """
    rng = _generator(seed)
    q, k, v = (rng.standard_normal((*lead, length, width)) for length, width in ((lq, d_k), (lk, d_k), (lk, d_v)))
    additive = _mask(mask, lead, lq, lk)
    if style == "dominant":
        _dominate(q, k, v, additive)
    elif style == "large":  # the first query's scores all above +1000, the last one's all below -1000
        k[..., 0] = np.abs(k[..., 0]) + 1.0
        q *= 500.0
        q[..., 0, :], q[..., -1, :] = 0.0, 0.0
        q[..., 0, 0], q[..., -1, 0] = 1000.0 * math.sqrt(d_k), -1000.0 * math.sqrt(d_k)
    elif style == "ones":
        v = np.ones_like(v)
    if shared_kv:
        k, v = k[..., :1, :, :], v[..., :1, :, :]
    q, k, v, additive = _cast(dtype, q, k, v, additive)
    return {"q": q, "k": k, "v": v, "mask": additive}


def layer_inputs(seed, dtype, batch, seq, d_model, n_heads, n_kv_heads=None, context=None, mask=None,
                 style="normal", bumped=None):
    """{"x", "params", "n_heads", "mask"} for the attention layers: x (batch, seq, d_model) and
    w_q, w_k, w_v, w_o, used as x @ w.

    n_kv_heads: w_k and w_v are (d_model, n_kv_heads * d_k) (grouped-query attention). context:
    a length, and "context" (batch, context, d_model) gives the keys (cross-attention). mask as
    for attention_inputs, over (batch, 1, queries, keys). style "normal": x standard normal, the
    weights scaled by 1/sqrt(d_model); "dominant": x and w_q, w_k built so that in some head each
    query attends mostly to the keys sharing its code, its own position among them in
    self-attention. bumped=t: 1 added to x at position t (the same draw otherwise).
    """
    rng = _generator(seed)
    kv = n_kv_heads or n_heads
    d_k = d_model // n_heads
    keys = context or seq
    x = rng.standard_normal((batch, seq, d_model))
    source = rng.standard_normal((batch, keys, d_model)) if context else x
    params = {name: rng.standard_normal((d_model, d_model)) / math.sqrt(d_model) for name in PARAMS}
    if style == "dominant":
        x, source, params = _dominant_layer(rng, x, source, params, n_heads, kv, context is not None)
    params["w_k"], params["w_v"] = params["w_k"][:, : kv * d_k], params["w_v"][:, : kv * d_k]
    if bumped is not None:
        x[:, bumped] += 1.0
    additive = _mask(mask, (batch, 1), seq, keys)
    x, source, additive = _cast(dtype, x, source, additive)
    found = {"x": x, "params": dict(zip(params, _cast(dtype, *params.values()))), "n_heads": n_heads, "mask": additive}
    if n_kv_heads is not None:
        found["n_kv_heads"] = n_kv_heads
    if context:
        found["context"] = source
    return found


def token_inputs(seed, dtype, batch, seq, vocab, d_model):
    """{"tokens", "embedding"}: every row of a (vocab, d_model) table, in a mixed order."""
    (table,) = _cast(dtype, _generator(seed).standard_normal((vocab, d_model)))
    tokens = np.arange(batch * seq).reshape(batch, seq) * 7 % vocab
    return {"tokens": tokens, "embedding": table}


def rope_inputs(seed, dtype, lead, seq, d, start=0):
    """{"x", "positions"}: x (*lead, seq, d) standard normal, positions start, start + 1, ..."""
    (x,) = _cast(dtype, _generator(seed).standard_normal((*lead, seq, d)))
    return {"x": x, "positions": np.arange(start, start + seq)}


def _mask(kind, lead, lq, lk):
    """An additive mask broadcastable to (*lead, lq, lk), or None."""
    if kind is None:
        return None
    if kind == "causal":
        return np.where(visible(lq, lk, lk - lq), 0.0, -np.inf)  # aligned bottom right
    if kind.startswith("window:"):
        return np.where(visible(lq, lk, lk - lq, int(kind.partition(":")[2])), 0.0, -np.inf)
    assert kind in ("padding", "unseen"), kind
    mask = np.zeros((lead[0], *(1,) * (len(lead) - 1), 1, lk))
    for row in range(lead[0]):
        mask[row, ..., lk - min(row + 1, lk - 1) :] = -np.inf  # a different length per batch row, one key kept
    if kind == "unseen":
        mask[0] = -np.inf  # every query of batch row 0 sees no key
    return mask


def visible(lq, lk, offset, window=None):
    """(lq, lk): the keys query i sees when it sits at key position i + offset (lk - lq: the
    queries are the last positions, the causal mask aligned to the bottom right), with a window
    only the `window` keys ending there."""
    seen = np.tri(lq, lk, k=offset, dtype=bool)
    if window is not None:
        seen &= ~np.tri(lq, lk, k=offset - window, dtype=bool)
    return seen


def _dominate(q, k, v, mask):
    """Style "dominant", in place: one code per dominant key, its queries aligned with it."""
    lq, lk, d = q.shape[-2], k.shape[-2], k.shape[-1]
    visible = np.ones((lq, lk), dtype=bool)  # (lq, lk): seen by the query in every batch row and head
    if mask is not None:
        visible = np.broadcast_to(mask == 0, mask.shape[:-2] + (lq, lk)).reshape(-1, lq, lk).all(axis=0)
    dominant = np.unique(np.linspace(0, lk - 1, min(d, lk)).round().astype(int))  # first and last among them
    strength = math.sqrt((math.log(lk) + 6) * math.sqrt(d))  # the dominant score beats the rest by ln(lk) + 6
    k *= 0.3
    q *= 0.3
    for code, key in enumerate(dominant):
        k[..., key, :] = 0.0
        k[..., key, code] = strength
        v[..., key, :] = (3.0 + 0.1 * code) * (1 if code % 2 else -1)
    for query in range(lq):
        seen = [code for code, key in enumerate(dominant) if visible[query, key]]
        if seen and (query % 2 == 0 or query == lq - 1):
            code = seen[-1] if query == lq - 1 else seen[(query // 2) % len(seen)]  # the last query: the last key
            q[..., query, :] = 0.0
            q[..., query, code] = strength


def _dominant_layer(rng, x, source, params, n_heads, n_kv_heads, cross):
    """Style "dominant" for the layers: a code per position, carried by x through an orthogonal w_q."""
    d_model = x.shape[-1]
    d_k = d_model // n_heads
    basis, _ = np.linalg.qr(rng.standard_normal((d_model, d_model)))  # orthogonal: x @ basis keeps codes apart
    strength = math.sqrt((math.log(source.shape[1]) + 6) * math.sqrt(d_k))
    group = n_heads // n_kv_heads
    w_k = np.concatenate([basis[:, g * group * d_k : (g * group + 1) * d_k] for g in range(n_kv_heads)], axis=1)
    params = {**params, "w_q": basis, "w_k": np.pad(w_k, [(0, 0), (0, d_model - w_k.shape[1])])}

    def coded(length, codes):  # position p carries code codes[p]: a column of the first head of a group
        columns = [(c % n_kv_heads) * group * d_k + (c // n_kv_heads) % d_k for c in codes]
        return strength * basis[:, columns].T + 0.1 * rng.standard_normal((x.shape[0], length, d_model))

    if not cross:
        x = coded(x.shape[1], range(x.shape[1]))
        return x, x, params
    keys = np.unique(np.linspace(0, source.shape[1] - 1, min(d_k * n_kv_heads, source.shape[1])).round().astype(int))
    source = 0.3 * source
    source[:, keys] = coded(len(keys), range(len(keys)))
    queries = [(p // 2) % len(keys) if p < x.shape[1] - 1 else len(keys) - 1 for p in range(x.shape[1])]
    return coded(x.shape[1], queries), source, params


def backward_inputs(seed, dtype, of, d_out="normal", **params):
    """The inputs the builder named `of` draws from `params`, and "d_out", the gradient of the
    output: standard normal from the seed's second stream, or "ones"."""
    found = BUILDERS[of](seed, dtype, **params)
    if "q" in found:  # attention: (*lead, Lq, d_v), the lead broadcast over q, k and v
        q, v = found["q"], found["v"]
        shape = np.broadcast_shapes(q.shape[:-2], v.shape[:-2]) + (q.shape[-2], v.shape[-1])
    else:  # the layers, softmax and the rotary embedding: the shape of x
        shape = found["x"].shape
    d_out = np.ones(shape) if d_out == "ones" else _generator([seed, 1]).standard_normal(shape)
    return {**found, "d_out": _cast(dtype, d_out)[0]}


def merge_inputs(seed, dtype, lead, lq, lk_a, lk_b, d_k, d_v, style="normal"):
    """{"out_a", "lse_a", "out_b", "lse_b"}: the exact attention states (output, log-sum-exp) of the
    queries over keys a, the first lk_a of attention_inputs(seed, lead=lead, lq=lq, lk=lk_a + lk_b,
    ...), and over keys b, the others; cast to dtype after. style "far": side b's scores shifted by
    +1000 for even queries and -1000 for odd ones (lse_b moves, out_b does not); "empty": query 0
    sees no key of side a, query 1 none of side b, query 2 none of either (lse -inf, output NaN)."""
    drawn = attention_inputs(seed, "float64", lead, lq, lk_a + lk_b, d_k, d_v)
    q, k, v = drawn["q"], drawn["k"], drawn["v"]
    out_a, lse_a = EXACT.attention_with_lse(q, k[..., :lk_a, :], v[..., :lk_a, :])
    out_b, lse_b = EXACT.attention_with_lse(q, k[..., lk_a:, :], v[..., lk_a:, :])
    if style == "far":
        lse_b = lse_b + np.where(np.arange(lq) % 2 == 0, 1000.0, -1000.0)
    elif style == "empty":
        for query, sides in ((0, "a"), (1, "b"), (2, "ab")):
            for out, lse in ((out_a, lse_a),) * ("a" in sides) + ((out_b, lse_b),) * ("b" in sides):
                out[..., query, :], lse[..., query] = np.nan, -np.inf
    out_a, lse_a, out_b, lse_b = _cast(dtype, out_a, lse_a, out_b, lse_b)
    return {"out_a": out_a, "lse_a": lse_a, "out_b": out_b, "lse_b": lse_b}


def packed_inputs(seed, dtype, lengths_q, lengths_k, n_heads, n_kv_heads, d_k, d_v, mask=None, style="normal",
                  padding=(0, 0)):
    """{"q", "k", "v", "cu_seqlens_q", "cu_seqlens_k"}: sequences of the given lengths packed end
    to end, q (total_q, n_heads, d_k), k (total_k, n_kv_heads, d_k), v (total_k, n_kv_heads, d_v),
    then `padding` (rows of q, rows of k and v) past the last sequence, which hold NaN.

    mask ("causal", "window:W" or None) is the call's, which style "dominant" (the module's
    docstring) needs to know: each sequence's queries look for keys they may see, keys of its own
    that share their codes with the keys of every other sequence.
    """
    rng = _generator(seed)
    cu_q, cu_k = (np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64) for lengths in (lengths_q, lengths_k))
    q = rng.standard_normal((cu_q[-1] + padding[0], n_heads, d_k))
    k = rng.standard_normal((cu_k[-1] + padding[1], n_kv_heads, d_k))
    v = rng.standard_normal((cu_k[-1] + padding[1], n_kv_heads, d_v))
    if style == "dominant":
        for b, (n_q, n_k) in enumerate(zip(lengths_q, lengths_k)):
            if n_q and n_k:
                queries, keys = slice(cu_q[b], cu_q[b + 1]), slice(cu_k[b], cu_k[b + 1])
                heads_first = (np.moveaxis(x, 1, 0) for x in (q[queries], k[keys], v[keys]))  # views
                _dominate(*heads_first, _mask(mask, (1,), n_q, n_k))
    q[cu_q[-1] :], k[cu_k[-1] :], v[cu_k[-1] :] = np.nan, np.nan, np.nan
    q, k, v = _cast(dtype, q, k, v)
    return {"q": q, "k": k, "v": v, "cu_seqlens_q": cu_q, "cu_seqlens_k": cu_k}


def paged_inputs(seed, dtype, seq_lens, lq, n_heads, n_kv_heads, d_k, d_v, block_size, window=None, shared=False,
                 first_id=0, spare=3, poison=None, style="dominant"):
    """{"q", "k_pages", "v_pages", "block_table", "seq_lens"}: the newest lq positions of sequences
    of lengths seq_lens, their keys and values in a pool of pages of block_size slots, each
    sequence's blocks at shuffled places of it. The pool has `spare` blocks no sequence uses, and
    the blocks below first_id (first_id=65,536: the used ids above 65,535); the table has a column
    more than the longest sequence needs, its entries past a sequence's blocks naming a spare one.
    shared: the second sequence's first block is the first's (prefix caching: the same keys).

    poison (what the contract says is never read, then NaN; random draws otherwise): "unused", the
    blocks of no sequence; "tail", the slots past each sequence's end; "freed", with a window, the
    blocks that lie wholly before every query's window of their sequence."""
    rng = _generator(seed)
    lengths = np.asarray(seq_lens, dtype=np.int64)
    needed = -(-lengths // block_size)  # blocks per sequence
    q = rng.standard_normal((len(lengths), lq, n_heads, d_k))
    keys = [rng.standard_normal((n, n_kv_heads, d_k)) for n in lengths]
    values = [rng.standard_normal((n, n_kv_heads, d_v)) for n in lengths]
    if style == "dominant":
        for b, n in enumerate(lengths):
            heads_first = (np.moveaxis(x, 1, 0) for x in (q[b], keys[b], values[b]))  # views
            _dominate(*heads_first, _mask(f"window:{window}" if window else "causal", (1,), lq, n))
    ids = first_id + rng.permutation(int(needed.sum()) + spare)  # the last `spare` ids: blocks of no sequence
    table = np.full((len(lengths), int(needed.max()) + 1), ids[-1], dtype=np.int32)
    for b, start in enumerate(np.cumsum(needed) - needed):
        table[b, : needed[b]] = ids[start : start + needed[b]]
    if shared:  # the second sequence's first block_size positions are the first's, in the first's block
        if min(lengths[:2]) < block_size:
            raise ValueError(f"shared: the first two sequences need {block_size} positions each, not {lengths[:2]}")
        table[1, 0] = table[0, 0]
        keys[1][:block_size], values[1][:block_size] = keys[0][:block_size], values[0][:block_size]
    pages = [rng.standard_normal((first_id + len(ids), block_size, n_kv_heads, d)) for d in (d_k, d_v)]
    never = np.zeros((first_id + len(ids), block_size), dtype=bool)  # the slots poison fills with NaN
    for b, n in enumerate(lengths):
        positions = np.arange(n)
        for page, written in zip(pages, (keys[b], values[b])):
            page[table[b, positions // block_size], positions % block_size] = written
        if poison == "tail":
            never[table[b, needed[b] - 1], n - (needed[b] - 1) * block_size :] = True
    if poison == "unused":
        never[np.setdiff1d(np.arange(len(never)), table[np.arange(table.shape[1]) < needed[:, None]])] = True
    if poison == "freed":
        for b, n in enumerate(lengths):  # the first position some query's window holds: its block and on are read
            never[table[b, : max(n - lq - window + 1, 0) // block_size]] = True
        for b, n in enumerate(lengths):
            never[table[b, max(n - lq - window + 1, 0) // block_size : needed[b]]] = False  # shared, read by another
    for page in pages:
        page[never] = np.nan
    q, k_pages, v_pages = _cast(dtype, q, *pages)
    return {"q": q, "k_pages": k_pages, "v_pages": v_pages, "block_table": table, "seq_lens": lengths}


def modified_inputs(seed, dtype, batch, n_heads, n_kv_heads, lq, lk, d_k, d_v, mask=None, style="normal"):
    """{"q", "k", "v", "mask"}: q (batch, n_heads, lq, d_k), k and v (batch, n_kv_heads, lk, d_k or d_v),
    mask as attention_inputs' over (batch, 1) ("causal": aligned to the bottom right; "unseen":
    batch row 0 sees no key), style "dominant" as attention_inputs' (scores of about ln(lk) + 6)."""
    rng = _generator(seed)
    q = rng.standard_normal((batch, n_heads, lq, d_k))
    k = rng.standard_normal((batch, n_kv_heads, lk, d_k))
    v = rng.standard_normal((batch, n_kv_heads, lk, d_v))
    additive = _mask(mask, (batch, 1), lq, lk)
    if style == "dominant":
        _dominate(q, k, v, None if mask == "unseen" else additive)
    q, k, v, additive = _cast(dtype, q, k, v, additive)
    return {"q": q, "k": k, "v": v, "mask": additive}


BUILDERS = {f.__name__: f for f in (logits, features, attention_inputs, layer_inputs, token_inputs, rope_inputs,
                                    backward_inputs, merge_inputs, packed_inputs,
                                    paged_inputs, modified_inputs)}


@dataclass(frozen=True)
class Case:
    """One call's inputs: `draw(dtype=..., **params)` with one of the builders above, plus
    arguments `given` as they are (n_heads, seq_len; arrays among them cast to the run's dtype),
    plus keyword arguments of the call (axis: the contract passes every other one positionally).
    `pinned` names the params the check is about, never adapted to a declaration. For decoding,
    `pieces` are the positions where the calls' pieces of the sequence start."""

    id: str
    capability: str
    params: dict = field(default_factory=dict)
    draw: str = None
    given: dict = field(default_factory=dict)
    kwargs: dict = field(default_factory=dict)
    pinned: tuple = ()
    pieces: tuple = None

    def inputs(self, dtype):
        """{argument name: value} for this case in `dtype`."""
        drawn = BUILDERS[self.draw](dtype=dtype, **self.params) if self.draw else {}
        return {**drawn, **{name: cast_floats(value, dtype) for name, value in self.given.items()}}

    def arguments(self, dtype):
        """The positional arguments of the call, in the contract's order (absent ones None)."""
        found = self.inputs(dtype)
        return tuple(found.get(name) for name in SIGNATURES[self.capability] if name not in KEYWORD_ONLY.get(self.capability, ()))

    @property
    def seed(self):
        return self.params.get("seed")

    def code(self, dtype):
        """The Python expression that draws this case's inputs (for the reproduction snippet)."""
        shown = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.draw}({shown}, dtype={dtype!r})"

    def with_params(self, **changes):
        return replace(self, params={**self.params, **changes})

    def fit(self, declaration):
        """This case within `declaration`: its head width (and value width) moved to declared ones,
        unless pinned. What cannot move (a mask, a length) the check's call then rules out."""
        if self.draw == "backward_inputs":  # the forward builder's params, fitted as for its forward
            forward = replace(self, draw=self.params["of"]).fit(declaration)
            return replace(self, params={**self.params, **forward.params})
        p = self.params
        if self.draw == "attention_inputs":
            d_k = p["d_k"] if "d_k" in self.pinned else declaration.head_dim(p["d_k"])
            d_v = p["d_v"]
            if "d_v" not in self.pinned:  # a square case stays square; a narrower or wider one, unless declared
                d_v = d_k if p["d_v"] == p["d_k"] else declaration.value_dim(d_k, p["d_v"])
            lengths = {}
            if p["lq"] == p["lk"] == p["d_k"]:  # a case about seq_len == d_k keeps them equal
                lengths = dict(lq=d_k, lk=d_k)
            return self.with_params(d_k=d_k, d_v=d_v, **lengths)
        if self.draw == "packed_inputs":
            d_k = declaration.head_dim(p["d_k"])
            return self.with_params(d_k=d_k, d_v=d_k if p["d_v"] == p["d_k"] else declaration.value_dim(d_k, p["d_v"]))
        if self.draw == "layer_inputs" and "d_model" not in self.pinned:
            return self.with_params(d_model=p["n_heads"] * declaration.head_dim(p["d_model"] // p["n_heads"]))
        return self


def cases(*default, kernel=()):
    """Decorate a check with its cases: `default` always, `kernel` (a list, or a function of the
    declaration giving one) added under --impl-profile=kernel. The suite's conftest parametrizes
    the check's `case` argument with them."""

    def decorate(check):
        check.cases = {"default": list(default), "kernel": kernel}
        return check

    return decorate


def profile_cases(check, profile, declaration):
    """The cases of a check under a profile, fitted to the declaration."""
    chosen = list(check.cases["default"])
    if profile == "kernel":
        kernel = check.cases["kernel"]
        chosen += kernel(declaration) if callable(kernel) else list(kernel)
    return [case.fit(declaration) for case in chosen]


# The shapes kernels are built and broken at (--impl-profile=kernel).
KERNEL_HEAD_DIMS = (32, 64, 128)
KERNEL_LENGTHS = (1, 63, 64, 65, 127, 128, 129, 255, 257)


def kernel_head_dims(declaration):
    """32, 64 and 128, and 256 where the implementation declares it (listed, or allowed by its rule)."""
    declared = declaration.head_dims is not None and 256 in declaration.head_dims
    return KERNEL_HEAD_DIMS + ((256,) if declared else ())
