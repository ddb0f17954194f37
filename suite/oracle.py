"""The contract's formulas, vectorised: the expected answers at any size, exactly or as plain
low-precision code would compute them.

`Formulas()` computes in float64: the golden answer. `Formulas("bfloat16")` (or "float16",
"float32") computes the same formulas the plain way in that precision: every operation's result
rounded to the dtype, products summed in float32 (as GPU code and numpy's matmul do). Two
legitimate variants round differently: sums_in_dtype=True accumulates the softmax's sum in the
dtype itself, as numpy's np.sum does on float16 and bfloat16 arrays (a far larger error on long
rows); scale_first=True scales q by 1/sqrt(d_k) before the product, as PyTorch's
nn.MultiheadAttention does. One more, products_in_dtype=True, accumulates every product's sum in
the dtype, one term after another (as np.einsum does on float16 arrays): not a legitimate
variant but a model of that precision mistake (measure.py), outside the budget. In float32 the
backward also has recomputes=True, the flash kernels' way of getting the weights back from the
log-sum-exp (_weights_for_backward). The worst error of these plain computations sets the budget
of the low-precision checks and widens float32's tolerance where it is larger (precision.py).

Written from the contract (docs/contract.md), sharing no code with reference/: splits and
merges by np.split and np.concatenate, masks by np.tri, grouped heads by np.repeat. Every method is
a contract callable, so Formulas() is itself an implementation of the contract.
"""

import functools
import math

import numpy as np


class Formulas:
    """The contract computed exactly (dtype None: float64) or the plain way in `dtype`."""

    def __init__(self, dtype=None, sums_in_dtype=False, scale_first=False, products_in_dtype=False, recomputes=False):
        self.dtype = None if dtype in (None, "float64") else dtype
        self.recomputes = recomputes  # the backward's weights recomputed from the forward's lse (_weights_for_backward)
        self.wide = np.float64 if self.dtype is None else np.float32  # what sums accumulate in
        self.sums = self.dtype if sums_in_dtype and self.dtype else self.wide
        self.scale_first = scale_first
        self.products_in_dtype = products_in_dtype and self.dtype is not None

    def matmul(self, a, b):
        """a @ b, its sums accumulated in the accumulation dtype, or term by term in the dtype."""
        if not self.products_in_dtype:
            return np.matmul(a, b)
        products = self.round(a[..., :, :, None] * b[..., None, :, :]).astype(self.dtype)  # (..., i, k, j)
        return np.add.accumulate(products, axis=-2, dtype=self.dtype)[..., -1, :].astype(self.wide)

    def round(self, a):
        """A result as the dtype would hold it, in the accumulation dtype."""
        a = np.asarray(a, dtype=self.wide)
        return a if self.dtype is None else a.astype(self.dtype).astype(self.wide)

    def softmax(self, x, axis=-1):
        x = self.round(x)
        top = np.max(x, axis=axis, keepdims=True)
        e = self.round(np.exp(x - np.where(np.isfinite(top), top, 0)))  # each slice's own max; -inf: weight 0
        total = np.sum(e.astype(self.sums), axis=axis, keepdims=True)
        return self.round(e / self.round(total))

    def create_causal_mask(self, seq_len):
        return np.where(np.tri(seq_len, dtype=bool), 0.0, -np.inf)  # tri: key j <= query i

    def create_sliding_window_mask(self, seq_len, window):
        seen = np.tri(seq_len, dtype=bool) & ~np.tri(seq_len, k=-window, dtype=bool)  # 0 <= i - j < window
        return np.where(seen, 0.0, -np.inf)

    def scaled_dot_product_attention(self, q, k, v, mask=None):
        q, k, v = map(self.round, (q, k, v))
        scores = self._scores(q, k)
        if mask is not None:
            scores = scores + np.asarray(mask, dtype=self.wide)  # 0 keeps, -inf hides
        weights = self.softmax(scores, axis=-1)
        return self.round(self.matmul(weights, v)), weights  # (..., Lq, d_v)

    def _scores(self, q, k):
        """q k^T / sqrt(d_k), (..., Lq, Lk): scaled after the product, or q scaled first."""
        scale = self.scale(q.shape[-1])
        if self.scale_first:
            return self.round(self.matmul(self.round(q * scale), np.swapaxes(k, -1, -2)))
        return self.round(self.round(self.matmul(q, np.swapaxes(k, -1, -2))) * scale)

    def scale(self, d_k):
        """The factor of the scores (a method, so that the kit's measuring models can change it: measure.py)."""
        return 1 / math.sqrt(d_k)

    def split_heads(self, x, n_heads):
        return np.stack(np.split(self.round(x), n_heads, axis=-1), axis=1)  # head h: features [h*d_k, (h+1)*d_k)

    def merge_heads(self, x):
        return np.concatenate(list(np.moveaxis(self.round(x), 1, 0)), axis=-1)  # heads side by side

    def _project(self, x, w, n_heads):
        return self.split_heads(self.round(self.matmul(self.round(x), self.round(w))), n_heads)

    def _attend(self, x, context, params, n_heads, n_kv_heads, mask):
        """Queries from x, keys and values from context, key/value head h // (n_heads // n_kv_heads)."""
        q = self._project(x, params["w_q"], n_heads)
        k = self._project(context, params["w_k"], n_kv_heads)
        v = self._project(context, params["w_v"], n_kv_heads)
        group = n_heads // n_kv_heads
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)  # consecutive query heads share one
        out, _ = self.scaled_dot_product_attention(q, k, v, mask)
        return self.round(self.matmul(self.merge_heads(out), self.round(params["w_o"])))

    def multi_head_attention(self, x, params, n_heads, mask=None):
        return self._attend(x, x, params, n_heads, n_heads, mask)

    def causal_self_attention(self, x, params, n_heads):
        return self._attend(x, x, params, n_heads, n_heads, self.create_causal_mask(x.shape[1]))

    def grouped_query_attention(self, x, params, n_heads, n_kv_heads, mask=None):
        return self._attend(x, x, params, n_heads, n_kv_heads, mask)

    def cross_attention(self, x, context, params, n_heads, mask=None):
        return self._attend(x, context, params, n_heads, n_heads, mask)

    def _angles(self, positions, width):
        """positions (seq,) x 10000^(-2i/width) for i < width/2: (seq, width/2), computed in the accumulation
        dtype (float32 outside the exact formulas, as kernels compute their angles whatever the data's dtype)."""
        frequencies = (10000.0 ** (-2 * np.arange(width // 2) / width)).astype(self.wide)
        return np.asarray(positions, dtype=self.wide)[:, None] * frequencies

    def positional_encoding(self, seq_len, d_model):
        angle = self._angles(np.arange(seq_len), d_model)
        pe = np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(seq_len, d_model)  # sin, cos interleaved
        return self.round(pe)

    def embed(self, tokens, embedding):
        table = self.round(embedding)
        return self.round(table[tokens] + self.positional_encoding(tokens.shape[1], table.shape[1]))

    def apply_rope(self, x, positions):
        x = self.round(x)
        half = x.shape[-1] // 2
        angle = self._angles(positions, x.shape[-1])  # (seq, d/2)
        cos, sin = self.round(np.cos(angle)), self.round(np.sin(angle))
        first, second = x[..., :half], x[..., half:]
        return self.round(np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1))

    # Contract v3, the backward pass. Written the way FlashAttention's backward is (Dao, 2022,
    # algorithm 4), not as the reference's chain rule: the softmax's inner sum comes from the output,
    # sum_j P_ij dP_ij = sum_d dO_id O_id, and a key/value head's gradient is gathered from its
    # query heads by stride; the weights' gradients are einsums over the batch and the positions.

    def softmax_backward(self, x, d_out, axis=-1):
        y, d_out = self.softmax(x, axis=axis), self.round(d_out)
        inner = self.round(np.sum((y * d_out).astype(self.sums), axis=axis, keepdims=True))  # <y, d_out> per slice
        return self.round(self.round(y * d_out) - self.round(y * inner))

    def scaled_dot_product_attention_backward(self, q, k, v, d_out, mask=None):
        q, k, v, d_out = map(self.round, (q, k, v, d_out))
        out, weights = self._weights_for_backward(q, k, v, mask)
        d_weights = self.round(self.matmul(d_out, np.swapaxes(v, -1, -2)))  # (..., Lq, Lk)
        inner = self.round(np.sum((d_out * out).astype(self.sums), axis=-1, keepdims=True))  # (..., Lq, 1)
        d_scores = self.round(weights * self.round(d_weights - inner))
        scale = self.scale(q.shape[-1])
        d_q = self.round(self.round(self.matmul(d_scores, k)) * scale)
        d_k = self.round(self.round(self.matmul(np.swapaxes(d_scores, -1, -2), q)) * scale)
        d_v = self.round(self.matmul(np.swapaxes(weights, -1, -2), d_out))
        return summed_to(d_q, q.shape), summed_to(d_k, k.shape), summed_to(d_v, v.shape)

    def _weights_for_backward(self, q, k, v, mask):
        """(output, weights) as the backward uses them: the forward's own, or (recomputes) recomputed
        as exp(scores - lse) from the log-sum-exp kept by a forward that rounded the scores the other
        way, so that the weights carry both roundings. PyTorch's CPU flash kernel does so in float32
        (its forward scales the product, its backward q): measured on the kernel profile's cases, up
        to 2.6 times the error of the forward's weights in dq, 10 times in the layers' w_v gradient."""
        if not self.recomputes:
            return self.scaled_dot_product_attention(q, k, v, mask)
        out, lse = Formulas(self.dtype, scale_first=not self.scale_first).attention_with_lse(q, k, v, mask)
        scores = self._scores(q, k) if mask is None else self._scores(q, k) + np.asarray(mask, dtype=self.wide)
        lse = np.where(np.isfinite(lse), lse, 0)[..., None]  # a query that sees no key: every weight 0
        return out, self.round(np.exp(self.round(scores - lse)))

    def _attend_backward(self, x, context, params, n_heads, n_kv_heads, d_out, mask):
        """(dx through the queries, d_context, d_params) of _attend."""
        x, context, d_out = map(self.round, (x, context, d_out))
        w = {name: self.round(value) for name, value in params.items()}
        q = self._project(x, w["w_q"], n_heads)
        k = self._project(context, w["w_k"], n_kv_heads)
        v = self._project(context, w["w_v"], n_kv_heads)
        group = n_heads // n_kv_heads
        out, _ = self.scaled_dot_product_attention(q, np.repeat(k, group, axis=1), np.repeat(v, group, axis=1), mask)
        merged = self.merge_heads(out)
        d_merged = self.round(self.matmul(d_out, w["w_o"].T))
        d_q, d_k, d_v = self.scaled_dot_product_attention_backward(
            q, np.repeat(k, group, axis=1), np.repeat(v, group, axis=1), self.split_heads(d_merged, n_heads), mask)
        # query head j * group + i used key/value head j: member i of every group, gathered by stride
        d_k, d_v = (self.round(sum(d[:, member::group] for member in range(group))) for d in (d_k, d_v))
        d_q, d_k, d_v = map(self.merge_heads, (d_q, d_k, d_v))
        d_params = {"w_q": self._weight_gradient(x, d_q), "w_k": self._weight_gradient(context, d_k),
                    "w_v": self._weight_gradient(context, d_v), "w_o": self._weight_gradient(merged, d_out)}
        d_x = self.round(self.matmul(d_q, w["w_q"].T))
        d_context = self.round(self.round(self.matmul(d_k, w["w_k"].T)) + self.round(self.matmul(d_v, w["w_v"].T)))
        return d_x, d_context, d_params

    def _weight_gradient(self, x, d_y):
        return self.round(np.einsum("bsi,bsj->ij", x, d_y))

    def multi_head_attention_backward(self, x, params, n_heads, d_out, mask=None):
        d_x, d_context, d_params = self._attend_backward(x, x, params, n_heads, n_heads, d_out, mask)
        return self.round(d_x + d_context), d_params

    def causal_self_attention_backward(self, x, params, n_heads, d_out):
        return self.multi_head_attention_backward(x, params, n_heads, d_out, self.create_causal_mask(x.shape[1]))

    def grouped_query_attention_backward(self, x, params, n_heads, n_kv_heads, d_out, mask=None):
        d_x, d_context, d_params = self._attend_backward(x, x, params, n_heads, n_kv_heads, d_out, mask)
        return self.round(d_x + d_context), d_params

    def cross_attention_backward(self, x, context, params, n_heads, d_out, mask=None):
        return self._attend_backward(x, context, params, n_heads, n_heads, d_out, mask)

    def apply_rope_backward(self, x, positions, d_out):
        """A rotation's gradient is the rotation back: the rotary embedding at the negated positions."""
        return self.apply_rope(d_out, -np.asarray(positions))

    # Contract v3, serving. Written as FlashAttention's epilogue is: the output accumulated from
    # unnormalised weights and divided once per query, the log-sum-exp as log(sum) + max.

    def attention_with_lse(self, q, k, v, mask=None):
        q, k, v = map(self.round, (q, k, v))
        scores = self._scores(q, k)
        if mask is not None:
            scores = scores + np.asarray(mask, dtype=self.wide)
        return self._epilogue(scores, v)

    def _epilogue(self, scores, v):
        """(output, lse) from the scores: unnormalised weights, one division per query."""
        top = np.max(scores, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)  # a query that sees no key: every exp is 0
        e = self.round(np.exp(scores - top))
        total = self.round(np.sum(e.astype(self.sums), axis=-1, keepdims=True))  # (..., Lq, 1)
        with np.errstate(divide="ignore", invalid="ignore"):  # log(0) = -inf; 0 / 0 where no key is seen
            out = np.where(total > 0, self.round(self.round(self.matmul(e, v)) / total), 0.0)
            return out, self.round(np.log(total) + top)[..., 0]

    def merge_attention_states(self, out_a, lse_a, out_b, lse_b):
        """The union's lse from the larger one, then each side's share of it, as the contract says
        (so a plain computation rounds the lse before the shares, as torch.logaddexp's result is)."""
        out_a, lse_a, out_b, lse_b = map(self.round, (out_a, lse_a, out_b, lse_b))
        top = np.maximum(lse_a, lse_b)
        top = np.where(np.isfinite(top), top, 0)  # both sides empty: every exp below is 0
        with np.errstate(divide="ignore", invalid="ignore"):
            lse = self.round(top + np.log(np.exp(lse_a - top) + np.exp(lse_b - top)))
            # an empty side has share 0 and its output (NaN, maybe) is never read
            parts = [np.where(np.isneginf(side)[..., None], 0, self.round(self.round(np.exp(side - lse))[..., None] * out))
                     for out, side in ((out_a, lse_a), (out_b, lse_b))]
        return self.round(parts[0] + parts[1]), lse

    def varlen_attention(self, q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
        """The pack as one attention with a block-diagonal mask (a document mask, as flex_attention
        builds for packed documents): query row r sees key row c when both belong to sequence b
        and, with causal, c <= r + cu_k[b + 1] - cu_q[b + 1] (the sequence's last query sees its
        last key), with a window also c > that - window."""
        cu_q, cu_k = np.asarray(cu_seqlens_q), np.asarray(cu_seqlens_k)
        k, v = k[: cu_k[-1]], v[: cu_k[-1]]  # rows past the last sequence belong to none
        rows_q, rows_k = np.arange(len(q)), np.arange(len(k))
        sequence_q = np.searchsorted(cu_q, rows_q, side="right") - 1  # past the last: len(cu_q) - 1, no sequence's
        sequence_k = np.searchsorted(cu_k, rows_k, side="right") - 1
        seen = sequence_q[:, None] == sequence_k[None, :]  # (total_q, total_k)
        if causal or window is not None:
            ends = np.append(cu_k, cu_k[-1])[sequence_q + 1] - np.append(cu_q, cu_q[-1])[sequence_q + 1]
            last = rows_q + ends  # the key row each query sits at
            seen &= rows_k[None, :] <= last[:, None]
            if window is not None:
                seen &= rows_k[None, :] > last[:, None] - window
        group = q.shape[1] // k.shape[1]
        q, k, v = (self.round(np.moveaxis(x, 1, 0)) for x in (q, k, v))  # heads first
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = np.where(seen, self._scores(q, k), -np.inf)  # (n_heads, total_q, total_k)
        out, _ = self._epilogue(scores, v)
        return np.moveaxis(out, 0, 1)

    def paged_attention(self, q, k_pages, v_pages, block_table, seq_lens, window=None):
        """The cache gathered through the block table into one array of positions per sequence, the
        positions no query sees set to 0 (never read: they may hold anything, NaN included), then
        one masked attention: query i of sequence b is position seq_lens[b] - Lq + i."""
        block_size, n_q = k_pages.shape[1], q.shape[1]
        lengths = np.asarray(seq_lens)
        positions = np.arange(lengths.max(initial=0))  # (P,)
        at = lengths[:, None] - n_q + np.arange(n_q)  # (batch, Lq): each query's position
        seen = positions <= at[..., None]  # (batch, Lq, P)
        if window is not None:
            seen &= positions > at[..., None] - window
        read = seen.any(axis=1)  # (batch, P): the positions some query sees
        columns = np.minimum(positions // block_size, np.shape(block_table)[1] - 1)
        blocks = np.where(read, np.asarray(block_table)[:, columns], 0)  # entries never read may be anything
        group = q.shape[2] // k_pages.shape[2]
        k, v = (np.repeat(np.moveaxis(np.where(read[..., None, None], pages[blocks, positions % block_size], 0), 2, 1),
                          group, axis=1) for pages in (k_pages, v_pages))  # (batch, n_heads, P, d)
        q, k, v = self.round(np.moveaxis(q, 2, 1)), self.round(k), self.round(v)
        scores = np.where(seen[:, None], self._scores(q, k), -np.inf)  # (batch, n_heads, Lq, P)
        out, _ = self._epilogue(scores, v)
        return np.moveaxis(out, 1, 2)

    def modified_attention(self, q, k, v, mask=None, *, softcap=None, alibi_slopes=None, sinks=None):
        """The scores modified in FlashAttention 2's order (cap, ALiBi, mask); a head's sink is one
        more key whose value is zero: it takes its share of the denominator and adds nothing."""
        group = q.shape[1] // k.shape[1]
        q, k, v = self.round(q), self.round(np.repeat(k, group, axis=1)), self.round(np.repeat(v, group, axis=1))
        scores = self._scores(q, k)
        if softcap is not None:
            scores = self.round(softcap * self.round(np.tanh(self.round(scores / softcap))))
        n_q, n_k = scores.shape[-2:]
        if alibi_slopes is not None:
            behind = np.abs(np.subtract.outer(np.arange(n_q) + n_k - n_q, np.arange(n_k)))  # (Lq, Lk)
            slopes = np.asarray(alibi_slopes, dtype=self.wide)
            scores = self.round(scores - self.round(slopes.reshape(slopes.shape + (1, 1)) * behind))
        if mask is not None:
            scores = scores + np.asarray(mask, dtype=self.wide)
        if sinks is not None:
            sink = np.broadcast_to(np.asarray(sinks, dtype=self.wide)[:, None, None], scores.shape[:-1] + (1,))
            scores = np.concatenate([scores, sink], axis=-1)
            v = np.concatenate([v, np.zeros_like(v[..., :1, :])], axis=-2)
        out, _ = self._epilogue(scores, v)
        return out

    def decode_chunk(self, x_new, params, n_heads, cache=None):
        """The last positions of causal self-attention over the prefix; the cache is the prefix itself."""
        prefix = x_new if cache is None else np.concatenate([cache, x_new], axis=1)
        return self.causal_self_attention(prefix, params, n_heads)[:, -x_new.shape[1] :], prefix

    def decode_step(self, x_t, params, n_heads, cache=None):
        return self.decode_chunk(x_t, params, n_heads, cache)


def summed_to(gradient, shape):
    """A broadcast input's gradient: summed over the axes broadcasting added or stretched from 1."""
    lead = gradient.ndim - len(shape)
    stretched = [lead + axis for axis, size in enumerate(shape) if size == 1 and gradient.shape[lead + axis] != 1]
    return np.sum(gradient, axis=(*range(lead), *stretched)).reshape(shape)


EXACT = Formulas()


def plain(dtype, capability=""):
    """The plain computations of the formulas in a dtype: the usual one, q scaled first, (below
    float32) the softmax's sum in the dtype, and (float32 gradients) the weights recomputed.
    Not below float32: there the plain formulas hold the scores in the dtype, where rounding them
    twice is a precision mistake, not a kernel's way (kernels hold scores in float32)."""
    recomputed = dtype == "float32" and capability.endswith("_backward")
    return _plain(dtype) + (_recomputed(dtype) if recomputed else ())


@functools.cache
def _plain(dtype):
    if dtype in ("float64", "float32"):
        return (Formulas(dtype), Formulas(dtype, scale_first=True))
    return (Formulas(dtype), Formulas(dtype, sums_in_dtype=True), Formulas(dtype, scale_first=True))


@functools.cache
def _recomputed(dtype):
    return (Formulas(dtype, recomputes=True), Formulas(dtype, scale_first=True, recomputes=True))
