"""A call of one of the contract's callables: how it is named in messages, how the implementation
is called (isolated from the kit: time limit, exceptions, read-only inputs, its declaration),
how any other implementation of the contract answers it (the formulas, a mutant), and how to
reproduce it in a plain Python prompt."""

import traceback

import numpy as np
import pytest

from attention_conformance import records
from attention_conformance.cases import BUILDERS, cast_floats, floating
from attention_conformance.checks import fail
from attention_conformance.contract import KEYWORD_ONLY, SIGNATURES, forward_of
from attention_conformance.declaration import MODIFIERS
from attention_conformance.isolation import CallTimedOut, Inputs, deadline, user_numerics

TRACEBACK_FRAMES = 8  # of the implementation's own frames shown when it raises: where to look
RULED_OUT = "ruled out by CONFORMANCE: "


class Call:
    """One call of a contract callable; its description opens every failure message about it."""

    def __init__(self, capability, *args, case=None, dtype=None, **kwargs):
        self.capability = capability
        self.args = args
        self.kwargs = kwargs
        self.case = case
        self.dtype = dtype

    @classmethod
    def of(cls, case, dtype):
        """The call a case describes, its inputs drawn in dtype."""
        return cls(case.capability, *case.arguments(dtype), case=case, dtype=dtype, **case.kwargs)

    @property
    def seed(self):
        return None if self.case is None else self.case.seed

    def named(self):
        """{parameter name: argument}, keyword arguments included."""
        positional = [name for name in SIGNATURES[self.capability] if name not in KEYWORD_ONLY.get(self.capability, ())]
        return {**dict(zip(positional, self.args)), **self.kwargs}

    def replaced(self, named):
        """The same call with its arguments taken from `named` ({parameter name: argument}), no case kept."""
        args = [named[key] for key in list(self.named())[: len(self.args)]]
        return Call(self.capability, *args, case=None, dtype=self.dtype, **{key: named[key] for key in self.kwargs})

    def __str__(self):
        text = ", ".join(f"{name}={describe(value)}" for name, value in self.named().items())
        seed = "" if self.seed is None else f", inputs drawn with seed {self.seed}"
        return f"{self.capability}({text}){seed}"

    def run(self, impl):
        """The implementation's result. Skips when its declaration rules the call out; fails,
        saying so, if the call raises (anything but KeyboardInterrupt), outlives --impl-timeout,
        or changes its inputs."""
        __tracebackhide__ = True
        function = impl.function(self.capability)
        skip_if_ruled_out(self, impl)
        record = records.current.get()
        if record is not None:
            record.saw(self)
        result, problem, failure = self.attempt(impl, function)
        if problem:
            if failure == "raised":  # no candidates, only the mistakes that raise on this call too (diagnosis.RAISES)
                from attention_conformance import diagnosis

                records.note(candidates=diagnosis.raising_alike(self))
            fail(self, None, problem, failure=failure, reproduce=self.snippet(impl.name))
        if record is not None:
            record.answered(result)
        self.returned = result  # the whole answer, for a diagnosis that weighs more than the part checked
        return result

    def attempt(self, impl, function=None):
        """(result, None, None), or (None, what went wrong in lines, its kind) when the call
        raised, outlived --impl-timeout or changed its inputs (the exception a raise is kept as
        self.raised)."""
        function = function or impl.function(self.capability)
        inputs = Inputs(self.named())
        try:
            with user_numerics(), deadline(impl.timeout, on_stuck=lambda: impl.stuck(self.stuck_lines(impl))):
                result = function(*self.args, **self.kwargs)
        except KeyboardInterrupt:
            raise
        except CallTimedOut:
            return None, [f"did not return within {impl.timeout:g} s (--impl-timeout; 0 disables the limit)"], "timeout"
        except BaseException as raised:  # SystemExit too: one message, not pytest's wall of traceback
            self.raised = raised
            return None, [f"raised {type(raised).__name__}: {raised}", "", _where(raised)], "raised"
        changes = inputs.changes()
        if changes:
            return None, [f"{change}: inputs are read-only" for change in changes], "changed its inputs"
        return result, None, None

    def stuck_lines(self, impl):
        """What the watchdog says of this call when it would not stop (isolation.deadline)."""
        return [str(self), f"  did not return within {impl.timeout:g} s (--impl-timeout), and went on when interrupted "
                "(it catches BaseException, replaced the SIGALRM handler, or is stuck outside Python)",
                "  reproduce:", *(f"    {line}" for line in self.snippet(impl.name))]

    def on(self, namespace):
        """What another implementation of the contract (the formulas, a mutant) answers, its
        array inputs widened to float64: the golden answer is computed from the cast inputs.
        Remembered, as a check may look at one answer twice (an output, then its weights)."""
        answers = self.__dict__.setdefault("_answers", {})
        if id(namespace) not in answers:
            answers[id(namespace)] = (namespace, getattr(namespace, self.capability)(*map(widened, self.args), **self.kwargs))
        return answers[id(namespace)][1]

    def limits(self):
        """What a declaration may rule out in this call (declaration.Declaration.rules_out)."""
        named = self.named()
        if forward_of(self.capability) == "scaled_dot_product_attention":
            q, k, v = named["q"], named["k"], named["v"]
            limits = {"head_dim": q.shape[-1], "value_dim": v.shape[-1], "lengths": (q.shape[-2], k.shape[-2]),
                      "mask": mask_kind(named["mask"], q.shape[-2], k.shape[-2])}
            if self.capability == "modified_attention":  # the modifiers the call turns on
                limits["modifiers"] = tuple(name for name in MODIFIERS if named.get(name) is not None)
                limits["heads"] = (q.shape[1], k.shape[1])
            return limits
        if self.capability == "varlen_attention":  # a window is a mask beyond the causal one
            q, v, cu_q, cu_k = named["q"], named["v"], named["cu_seqlens_q"], named["cu_seqlens_k"]
            mask = "additive" if named.get("window") is not None else "causal" if named.get("causal") else "none"
            return {"head_dim": q.shape[-1], "value_dim": v.shape[-1], "mask": mask, "heads": (q.shape[1], v.shape[1]),
                    "lengths": (int(np.diff(cu_q).max(initial=0)), int(np.diff(cu_k).max(initial=0)))}
        if self.capability == "paged_attention":
            q, v_pages = named["q"], named["v_pages"]
            return {"head_dim": q.shape[-1], "value_dim": v_pages.shape[-1], "block_size": v_pages.shape[1],
                    "mask": "additive" if named.get("window") is not None else "causal",
                    "heads": (q.shape[2], v_pages.shape[2]),
                    "lengths": (q.shape[1], int(np.max(named["seq_lens"])))}
        if "params" not in named:
            return {}
        x = named.get("x", named.get("x_t", named.get("x_new")))
        keys = named["context"].shape[1] if "context" in named else x.shape[1]
        limits = {"head_dim": x.shape[-1] // named["n_heads"], "lengths": (x.shape[1], keys)}
        if forward_of(self.capability) == "causal_self_attention":
            limits["mask"] = "causal"
        elif "mask" in named:
            limits["mask"] = mask_kind(named["mask"], x.shape[1], keys)
        return limits

    def snippet(self, impl_name):
        """Lines of Python that make this call again and compute what it should return."""
        lines, arguments = _inputs_code(self)
        call = f"{self.capability}({arguments})"
        draw = self.case.draw if self.case is not None else None
        return [*_impl_import(impl_name, draw, self.dtype), *lines, f"got = impl.{call}", f"expected = Formulas().{call}"]


class Decoding:
    """decode_step or decode_chunk fed a sequence in pieces (`bounds`: where each piece starts),
    each call passing back the cache the previous one returned: its outputs side by side."""

    def __init__(self, case, dtype):
        self.capability, self.case, self.dtype, self.bounds = case.capability, case, dtype, case.pieces
        self.inputs = case.inputs(dtype)
        self.x, self.params, self.n_heads = self.inputs["x"], self.inputs["params"], self.inputs["n_heads"]

    @property
    def seed(self):
        return self.case.seed

    def pieces(self):
        ends = (*self.bounds[1:], self.x.shape[1])
        return list(zip(self.bounds, ends))

    def __str__(self):
        sizes = sorted({end - start for start, end in self.pieces()})
        return (f"{self.capability} fed x={describe(self.x)} in {len(self.pieces())} pieces of "
                f"{' or '.join(map(str, sizes))} positions, params={describe(self.params)}, "
                f"n_heads={self.n_heads}, inputs drawn with seed {self.seed}")

    def limits(self):
        head_dim = self.x.shape[-1] // self.n_heads
        chunked = any(end - start > 1 for start, end in self.pieces())
        return {"head_dim": head_dim, "lengths": (self.x.shape[1],), **({"mask": "causal"} if chunked else {})}

    def run(self, impl):
        """The implementation's outputs for every piece, side by side (batch, seq, d_model)."""
        __tracebackhide__ = True
        from attention_conformance.checks import as_array, expect_shape

        impl.function(self.capability)
        skip_if_ruled_out(self, impl)
        cache, outputs, reproduce = None, [], self.snippet(impl.name)
        for start, end in self.pieces():
            call = Call(self.capability, self.x[:, start:end], self.params, self.n_heads, cache, case=self.case,
                        dtype=self.dtype)
            result = call.run(impl)
            what = f"output for positions {start} to {end - 1}"
            if not (isinstance(result, (tuple, list)) and len(result) == 2):
                fail(call, f"the call for positions {start} to {end - 1} returns (output, cache)",
                     [f"got {type(result).__name__}"], reproduce=reproduce)
            output = as_array(result[0], call, what, reproduce)
            expect_shape(output, (self.x.shape[0], end - start, self.x.shape[2]), call, what, reproduce=reproduce)
            cache = result[1]
            outputs.append(output)
        records.note(call=str(self))
        return np.concatenate(outputs, axis=1)

    def on(self, namespace):
        """Another implementation's outputs: the formulas give the causal forward at once; a
        mutant decodes piece by piece like the implementation."""
        from attention_conformance.oracle import Formulas

        x, params = widened(self.x), widened(self.params)
        if isinstance(namespace, Formulas):
            return namespace.causal_self_attention(x, params, self.n_heads)
        cache, outputs = None, []
        for start, end in self.pieces():
            output, cache = getattr(namespace, self.capability)(x[:, start:end], params, self.n_heads, cache)
            outputs.append(np.asarray(output, dtype=np.float64))
        return np.concatenate(outputs, axis=1)

    def snippet(self, impl_name):
        if self.case.draw:
            inputs = [f"inputs = {self.case.code(self.dtype)}", 'x, params = inputs["x"], inputs["params"]']
        else:
            inputs = [f"x = {_literal(self.x)}", f"params = {_literal(self.params)}"]
        return [
            *_impl_import(impl_name, self.case.draw, self.dtype),
            *inputs,
            "cache, outputs = None, []",
            f"for start, end in {self.pieces()!r}:",
            f"    y, cache = impl.{self.capability}(x[:, start:end], params, {self.n_heads}, cache)",
            "    outputs.append(y)",
            "got = np.concatenate(outputs, axis=1)",
            f"expected = Formulas().causal_self_attention(x, params, {self.n_heads})",
        ]


def mask_kind(mask, lq, lk):
    """"none", "causal" (the square causal mask, broadcast to any leading axes) or "additive"."""
    if mask is None:
        return "none"
    mask = np.asarray(mask, dtype=np.float64)
    if lq == lk and mask.shape[-2:] == (lq, lk):
        causal = np.where(np.tri(lq, dtype=bool), 0.0, -np.inf)
        if (np.broadcast_to(mask, np.broadcast_shapes(mask.shape, causal.shape)) == causal).all():
            return "causal"
    return "additive"


def skip_if_ruled_out(call, impl):
    """Skip the check, naming the declaration's key, when the implementation's CONFORMANCE rules the call out."""
    __tracebackhide__ = True
    reason = impl.declaration.rules_out(call.limits(), impl.dtype)
    if reason:
        records.note(ruled_out=reason.partition("=")[0])
        pytest.skip(RULED_OUT + reason)


def widened(value):
    """Float arrays (also inside dicts) as float64; everything else as it is."""
    return cast_floats(value, np.float64)


def _impl_import(name, draw=None, dtype=None):
    """The snippet's imports: numpy, the case's builder, the formulas, and the implementation as `impl`."""
    module, _, attr = name.partition(":")
    head = ["import ml_dtypes", "import numpy as np"] if dtype == "bfloat16" else ["import numpy as np"]
    if draw:
        head.append(f"from attention_conformance.cases import {draw}")
    head.append("from attention_conformance.oracle import Formulas")
    if not attr:
        return [*head, f"import {module} as impl"]
    first, _, rest = attr.partition(".")
    return [*head, f"from {module} import {first} as impl"] + ([f"impl = impl.{rest}"] if rest else [])


def _inputs_code(call):
    """(lines that build the call's inputs, the argument list that uses them)."""
    named = call.named()
    if call.case is not None and call.case.draw is not None:
        drawn = BUILDERS[call.case.draw](dtype=call.dtype, **call.case.params)
        lines = [f"inputs = {call.case.code(call.dtype)}"]
        arguments = [f'inputs["{name}"]' if name in drawn else _literal(value) for name, value in named.items()]
    else:
        lines, arguments = [], [_literal(value) for value in named.values()]
    keywords = list(call.kwargs)
    shown = [value if name not in keywords else f"{name}={value}" for name, value in zip(named, arguments)]
    return lines, ", ".join(shown)


def _literal(value):
    """Python for a value; a float array as float64 literals cast to its dtype (ml_dtypes names
    bfloat16); a dict (params) item by item."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, np.ndarray):
        dtype = "ml_dtypes.bfloat16" if value.dtype.name == "bfloat16" else repr(str(value.dtype))
        return f"np.array({value.astype(np.float64).tolist() if floating(value) else value.tolist()!r}).astype({dtype})"
    return repr(value)


def _where(error):
    """The traceback from the implementation's own frame down (the kit's frame left out)."""
    frames = "".join(
        traceback.format_exception(type(error), error, error.__traceback__.tb_next, limit=-TRACEBACK_FRAMES)
    )
    return frames.rstrip()


def describe(value):
    """A short description of an argument: dtype and shape for arrays (values too when few), names for dicts."""
    if isinstance(value, np.ndarray):
        text = f"{value.dtype}[{', '.join(map(str, value.shape))}]"
        if value.size <= 16:  # small enough to reproduce the call from the message alone
            shown = value.astype(np.float64) if floating(value) else value
            text += " " + np.array2string(shown, precision=4, separator=", ").replace("\n", "")
        return text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {describe(item)}" for key, item in value.items()) + "}"
    if value is None or isinstance(value, (int, float, str)):
        return repr(value)
    return type(value).__name__
