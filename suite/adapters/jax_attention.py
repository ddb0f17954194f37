"""The contract on JAX: jax.nn.dot_product_attention and a jitted multi-head layer.

Requires jax (`pip install 'attention-conformance[jax]'`). jax.nn.dot_product_attention
computes in float32 at best, so this adapter conforms at float32 and below, not at float64.
Importing it turns on JAX's float64 arrays (jax_enable_x64) so that inputs keep their dtype.
Contract v3's gradients come from jax.vjp (`derive`), not from a hand-written backward.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from attention_conformance.contract import places

jax.config.update("jax_enable_x64", True)


def derive(function, capability):
    """(forward, backward): the contract's numpy `capability` and `capability`_backward, both
    made of function, which computes the forward with jax.numpy.

    function takes the forward's arguments in the contract's order (params a dict) and returns
    an array; the backward differentiates it by jax.vjp with respect to the differentiable inputs
    (contract.DIFFERENTIABLE), the others (masks, head counts, axis) held constant.
    """
    backward_name = f"{capability}_backward"
    wrt, at = places(capability)  # where the differentiable inputs sit in a call, where d_out does

    def forward(*args, **kwargs):
        arrays, constants = _split(args, ())
        return np.asarray(_compiled(function, constants, tuple(sorted(kwargs.items())))(arrays))

    def backward(*args, **kwargs):
        d_out, args = args[at], args[:at] + args[at + 1 :]
        arrays, constants = _split(args, wrt)
        vjp = _compiled_vjp(function, tuple(wrt), constants, tuple(sorted(kwargs.items())))
        gradients = jax.tree.map(np.asarray, vjp(tuple(args[place] for place in wrt), arrays, d_out))
        return gradients[0] if len(gradients) == 1 else gradients

    forward.__qualname__, backward.__qualname__ = capability, backward_name  # how their reprs name them
    forward.__doc__ = function.__doc__
    return forward, backward


def _split(args, wrt):
    """({place: array or params dict}, ((place, constant), ...)) of the arguments not at the places
    `wrt`: the arrays are traced by jax.jit, the rest (head counts, None) fixed in what it compiles."""
    arrays = {place: arg for place, arg in enumerate(args) if place not in wrt and isinstance(arg, (np.ndarray, dict))}
    return arrays, tuple((place, arg) for place, arg in enumerate(args) if place not in wrt and place not in arrays)


@functools.cache
def _compiled(function, constants, kwargs):
    """function jitted, its `constants` fixed: op by op, each new shape compiles every operation
    apart (a second or more per call of jax.nn.dot_product_attention), jitted once as a whole."""

    def call(arrays):
        given = {**dict(constants), **arrays}
        return function(*(given[place] for place in range(len(given))), **dict(kwargs))

    return jax.jit(call)


@functools.cache
def _compiled_vjp(function, wrt, constants, kwargs):
    """jax.vjp of function with respect to the arguments at the places `wrt`, jitted (op by op, each
    new shape of a backward takes seconds): the arrays among the other arguments are traced, the
    rest (head counts, None, axis) are the `constants`, fixed in the compiled function."""

    def vjp(inputs, arrays, d_out):
        def of_differentiable(*inputs):  # the forward as a function of the differentiable inputs alone
            given = {**dict(constants), **arrays, **dict(zip(wrt, inputs))}
            return function(*(given[place] for place in range(len(given))), **dict(kwargs))

        output, pullback = jax.vjp(of_differentiable, *inputs)
        return pullback(d_out.astype(output.dtype))

    return jax.jit(vjp)


softmax, softmax_backward = derive(lambda x, axis=-1: jax.nn.softmax(x, axis=axis), "softmax")


def _scaled_dot_product_attention(q, k, v, mask=None):
    """jax.nn.dot_product_attention, which computes in float32 whatever the input dtype.

    It wants (batch, seq, heads, d) with one d for q, k and v: the leading axes are folded
    into the batch, and the narrower of d_k, d_v padded with zeros (which changes no dot
    product; the scale stays 1 / sqrt(d_k)). It returns no weights: the contract allows that.
    The folding and padding are jnp operations, so that jax.vjp takes them back: a broadcast
    input's gradient is summed to its shape, a padded one's cut to its width.
    """
    (lq, d_k), (lk, d_v) = q.shape[-2:], v.shape[-2:]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    width = max(d_k, d_v)

    def to_layout(a):  # (..., L, d) -> (batch, L, 1 head, width)
        a = jnp.broadcast_to(a, lead + a.shape[-2:]).reshape(-1, *a.shape[-2:])
        return jnp.pad(a, [(0, 0), (0, 0), (0, width - a.shape[-1])])[:, :, None]

    bias = None if mask is None else jnp.broadcast_to(mask, lead + (lq, lk)).reshape(-1, 1, lq, lk)
    out = jax.nn.dot_product_attention(*map(to_layout, (q, k, v)), bias=bias, scale=1 / math.sqrt(d_k))
    return out[:, :, 0, :d_v].reshape(lead + (lq, d_v))


scaled_dot_product_attention, scaled_dot_product_attention_backward = derive(
    _scaled_dot_product_attention, "scaled_dot_product_attention")


@functools.partial(jax.jit, static_argnames=("n_heads", "is_causal"))
def _multi_head(x, w_q, w_k, w_v, w_o, bias, n_heads, is_causal):
    batch, seq, d_model = x.shape

    def heads(w):
        return (x @ w).reshape(batch, seq, n_heads, d_model // n_heads)  # (batch, seq, n_heads, d_k)

    out = jax.nn.dot_product_attention(heads(w_q), heads(w_k), heads(w_v), bias=bias, is_causal=is_causal)
    return out.reshape(batch, seq, d_model) @ w_o  # heads side by side, then the output projection


def _multi_head_attention(x, params, n_heads, mask=None, is_causal=False):
    batch, seq, _ = x.shape
    bias = None if mask is None else jnp.broadcast_to(mask, (batch, n_heads, seq, seq))
    weights = (params[name] for name in ("w_q", "w_k", "w_v", "w_o"))
    return _multi_head(x, *weights, bias, n_heads=n_heads, is_causal=is_causal)


multi_head_attention, multi_head_attention_backward = derive(_multi_head_attention, "multi_head_attention")


def _causal_self_attention(x, params, n_heads):
    return _multi_head_attention(x, params, n_heads, is_causal=True)


causal_self_attention, causal_self_attention_backward = derive(_causal_self_attention, "causal_self_attention")
