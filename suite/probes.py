"""Evidence that needs no catalogue: change one input, see what moves.

After a check has failed (never before: a passing run pays nothing), the probes call the
implementation again on changed inputs and compare what moved in its output with what moves in
the formulas' output:
- the same call three times: the answers must be equal bit for bit; when they are not, that is
  the one finding (any other comparison would measure the noise, not the inputs);
- each array input, and each entry of a dict of them (params), changed as a whole: if the
  formulas' output moves and the implementation's does not, that input is not used;
- each index along the named axes (batch rows, positions, queries, keys) changed alone: the
  output may move only where the formulas' output moves, and must move where it does.
A claim that something does not depend on an input rests on structure, never on a small move or a
saturated softmax: it holds only if the output stays the same bit for bit under three changes
(shifted, redrawn at the input's own scale, negated) and under a shift on small random inputs,
where no softmax saturates. Other batch rows, masked keys and future positions pass that test; a
weak dependence does not. The first findings are reported in words, with the axes' names from
contract.AXES.
"""

import numpy as np

from attention_conformance.cases import floating
from attention_conformance.contract import AXES
from attention_conformance.oracle import EXACT

MOVABLE = ("batch row", "position", "query", "key", "query position", "context position")
MOST_FINDINGS = 3
# Failing checks of one callable probed per run: probing costs tens of calls of the implementation
# at the check's sizes (minutes over a kernel profile's hundred failures of one tile bug), and
# the first ones already say where the output moves wrongly.
MOST_PROBED = 3
# The first change is tried alone; the others, and the first on small random inputs, confirm a claim.
CHANGES = ("shifted", "redrawn", "negated")
CONFIRMING = (("redrawn", False), ("negated", False), ("shifted", True))
CONFIRMED = "shifted, redrawn or negated, here and on small random inputs"
NOT_DETERMINISTIC = ("the same call twice gives different answers: the implementation keeps state between calls "
                     "or is not deterministic (no other probe ran: each would measure that)")


def findings(impl, call, expected):
    """What the probes found, in words: [] when nothing, or when the call cannot be probed."""
    if not hasattr(call, "named") or call.capability not in AXES:  # a single call (not a decoding) it can vary
        return ["(no mistake of the catalogue matches, and this check cannot be probed)"]
    if impl.diagnosed["probed", call.capability] >= MOST_PROBED:
        return [f"(not probed: the probes ran on the first {MOST_PROBED} failing checks of {call.capability} in this "
                "run; run this check alone to probe it)"]
    impl.diagnosed["probed", call.capability] += 1
    base = _output(impl, call)
    if base is None:
        return []
    if not _deterministic(impl, call, base):
        return [f"evidence: {NOT_DETERMINISTIC}"]
    prober = _Prober(impl, call, base)
    found = []
    for name, index, changer in _changes(call, prober.generic):
        found += prober.finding(name, index, changer)
        if len(found) >= MOST_FINDINGS:
            break
    return [f"evidence: {finding}" for finding in found[:MOST_FINDINGS]]


def _deterministic(impl, call, base):
    """The same call twice more gives the same answer, bit for bit (a call that fails is no answer)."""
    for _ in range(2):
        again = _output(impl, call)
        if again is not None and not (again.shape == base.shape and _same(again, base).all()):
            return False
    return True


class _Prober:
    """The implementation and the formulas asked on changed inputs: the check's, and small random ones."""

    def __init__(self, impl, call, base):
        self.impl, self.call, self.base = impl, call, base
        self.generic = _generic(call)
        # Moved: by more than 10 times what a comparison allows, so that rounding never passes for a move.
        self.moved = 10 * float(impl.allowance.allowed(np.array([np.abs(base).max() if base.size else 1.0])).max())

    def finding(self, name, index, changer):
        """The finding of one input (or one index of it) changed: [] or [a line]."""
        shifted = changer("shifted")
        impl, formulas = self.impl_moves(shifted), self.formulas_moves(shifted)
        if impl is None or formulas is None or impl[0].shape != formulas[0].shape:  # a wrong shape says it already
            return []
        if index is None:
            return self.whole(name, changer, impl, formulas)
        return self.at(name, changer, impl, formulas)

    def whole(self, name, changer, impl, formulas):
        """For an input changed as a whole: it is not used, or the output moves where it must not."""
        (impl_same, impl_by), (formulas_same, formulas_by) = impl, formulas
        if (formulas_by > self.moved).any() and self.nowhere(changer, impl_same, self.impl_moves):
            return [f"changing {name} does not change the output: {name} is not used ({CONFIRMED}, the output "
                    "stays the same bit for bit)"]
        if (impl_by > self.moved).any() and self.nowhere(changer, formulas_same, self.formulas_moves):
            return [f"changing {name} changes the output, which does not depend on it ({CONFIRMED}, the "
                    "formulas' output stays the same bit for bit)"]
        return []

    def at(self, name, changer, impl, formulas):
        """For one index changed: the output moves at a place that must not depend on it, or does not
        move at one that does."""
        (impl_same, impl_by), (formulas_same, formulas_by) = impl, formulas
        leaked = self.confirmed(changer, (impl_by > self.moved) & formulas_same, self.formulas_moves)
        if leaked.any():
            return [f"changing {name} changes the output at {self.place(leaked)}, which must not depend on it"]
        ignored = self.confirmed(changer, (formulas_by > self.moved) & impl_same, self.impl_moves)
        if ignored.any():
            return [f"changing {name} does not change the output at {self.place(ignored)}, which depends on it "
                    f"({CONFIRMED}, that output stays the same bit for bit)"]
        return []

    def nowhere(self, changer, same, moves):
        """The output stays the same bit for bit everywhere, under the first change and the others."""
        return bool(same.all()) and bool(self.confirmed(changer, np.ones_like(same), moves).all())

    def confirmed(self, changer, where, moves):
        """The places of `where` that stay the same bit for bit, as `moves` sees them, under the other
        changes and under a shift on small random inputs; none when a call fails."""
        for how, generic in CONFIRMING:
            if not where.any():
                break
            seen = moves(changer(how, generic), generic)
            if seen is None or seen[0].shape != where.shape:
                return np.zeros_like(where)
            where = where & seen[0]
        return where

    def impl_moves(self, changed, generic=False):
        """(where the implementation's output stays the same bit for bit, by how much it moves), or None."""
        before = self.generic_base() if generic else self.base
        return _compared(_output(self.impl, changed), before)

    def formulas_moves(self, changed, generic=False):
        """(where the formulas' output stays the same bit for bit, by how much it moves)."""
        return _compared(_output_of(EXACT, changed), _output_of(EXACT, self.generic if generic else self.call))

    def generic_base(self):
        """The implementation's output on the small random inputs (asked once)."""
        if not hasattr(self, "_generic_base"):
            self._generic_base = _output(self.impl, self.generic)
        return self._generic_base

    def place(self, where):
        """Words for the first place of a mask of the output."""
        return _place(AXES[self.call.capability].get("output", ()), np.argwhere(where)[0], where.ndim)


def _compared(after, before):
    """(where after is before bit for bit, |after - before|), or None when either is missing or the shapes differ."""
    if after is None or before is None or after.shape != before.shape:
        return None
    return _same(after, before), np.abs(after - before)


def _output(impl, call):
    """The implementation's output (the first of a tuple) as an array, or None if the call fails."""
    result, problem, _ = call.attempt(impl)
    if problem:
        return None
    try:
        return np.asarray(result[0] if isinstance(result, tuple) else result, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _output_of(namespace, call):
    result = call.on(namespace)
    return np.asarray(result[0] if isinstance(result, tuple) else result, dtype=np.float64)


def _same(a, b):
    """Elementwise: the same float64 bits (a NaN is the same as itself, -0.0 is not 0.0)."""
    return np.ascontiguousarray(a).view(np.uint64) == np.ascontiguousarray(b).view(np.uint64)


def _generic(call):
    """The call on small random inputs of the same shapes and dtypes, masks and integers kept: scores
    near 0, so that no softmax saturates and every dependence the structure allows shows."""
    rng = np.random.default_rng(1)

    def small(value):
        if not floating(value):
            return value
        scale = 0.5 / np.sqrt(value.shape[-1]) if value.ndim else 0.5
        return (scale * rng.standard_normal(value.shape)).astype(value.dtype)

    named = call.named()
    for name, value in named.items():
        if name != "mask":
            named[name] = {key: small(item) for key, item in value.items()} if isinstance(value, dict) else small(value)
    return call.replaced(named)


def _changes(call, generic):
    """(description of what changed, the index changed or None for all of it, a changer: a function
    from one of CHANGES, and whether on the small random inputs, to the changed call)."""
    rng = np.random.default_rng(0)
    axes = AXES[call.capability]
    for name, value in call.named().items():
        if name == "mask" or not isinstance(value, (np.ndarray, dict)):
            continue
        if isinstance(value, dict):
            for key in value:
                yield f"{name}[{key!r}]", None, _changer(rng, call, generic, name, ..., key)
            continue
        if not floating(value):
            continue
        yield name, None, _changer(rng, call, generic, name, ...)
        names = axes.get(name, ())
        for axis in range(value.ndim):
            axis_name = _axis_name(names, axis, value.ndim)
            if axis_name in MOVABLE and value.shape[axis] > 1:
                for position in sorted({0, value.shape[axis] // 2, value.shape[axis] - 1}):
                    where = (slice(None),) * axis + (position,)
                    changer = _changer(rng, call, generic, name, where)
                    yield f"{name} at {axis_name} {position}", (axis_name, position), changer


def _changer(rng, call, generic, name, where, key=None):
    """A function (how, on the small random inputs or not) -> the call with its argument `name`
    (its entry `key`, for a dict) changed at `where` that way."""
    def changer(how, on_generic=False):
        origin = generic if on_generic else call
        value = origin.named()[name]
        if key is None:
            return origin.replaced({**origin.named(), name: _changed(rng, value, where, how)})
        return origin.replaced({**origin.named(), name: {**value, key: _changed(rng, value[key], where, how)}})
    return changer


def _changed(rng, array, where, how):
    """A copy of array with array[where] shifted by about 0.5, redrawn at the array's own scale
    (unrelated values: a saturated softmax turns), or negated."""
    changed = np.array(array, copy=True)
    part = np.asarray(changed[where], dtype=np.float64)
    if how == "shifted":
        part = part + 0.5 + rng.standard_normal(part.shape)
    elif how == "redrawn":
        finite = np.asarray(array, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        scale = float(np.sqrt(np.mean(finite**2))) if finite.size else 0.0
        part = rng.standard_normal(part.shape) * (scale or 1.0)
    else:
        part = -part
    changed[where] = part.astype(array.dtype)
    return changed


def _axis_name(names, axis, ndim):
    """The name of `axis` of an array of `ndim` axes, its names given from the last axis back."""
    from_end = ndim - axis
    if from_end <= len(names) and names[-from_end] != "...":
        return names[-from_end]
    return "batch row" if axis == 0 and names and names[0] == "..." else "leading axis"


def _place(names, index, ndim):
    """Words for an output index: "batch row 0, position 2" (features left out)."""
    parts = []
    for axis, position in enumerate(index):
        axis_name = _axis_name(names, axis, ndim)
        if axis_name in MOVABLE or axis_name == "head":
            parts.append(f"{axis_name} {int(position)}")
    return ", ".join(parts) or f"index {tuple(map(int, index))}"
