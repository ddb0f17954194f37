"""Evidence that needs no catalogue: change one input, see what moves.

After a check has failed (never before: a passing run pays nothing), the probes call the
implementation again on changed inputs and compare what moved in its output with what moves in
the formulas' output:
- the same call twice: the answers must be equal (no state kept between calls);
- each array input, and each entry of a dict of them (params), changed as a whole: if the
  formulas' output moves and the implementation's does not, that input is not used;
- each index along the named axes (batch rows, positions, queries, keys) changed alone: the
  output may move only where the formulas' output moves, and must move where it does.
The first findings are reported in words, with the axes' names from contract.AXES.
"""

import numpy as np

from attention_conformance.calls import Call
from attention_conformance.contract import AXES
from attention_conformance.oracle import EXACT

MOVABLE = ("batch row", "position", "query", "key", "query position", "context position")
MOST_FINDINGS = 3


def findings(impl, call, expected):
    """What the probes found, in words: [] when nothing, or when the call cannot be probed."""
    if not hasattr(call, "named") or call.capability not in AXES:  # a single call (not a decoding) it can vary
        return ["(no mistake of the catalogue matches, and this check cannot be probed)"]
    base = _output(impl, call)
    if base is None:
        return []
    found = []
    again = _output(impl, call)
    if again is not None and not _same(again, base):
        found.append("the same call twice gives different answers: the implementation keeps state between calls "
                     "or is not deterministic")
    # Moved: by more than 10 times what a comparison allows; still: by no more than it allows. Values
    # in between count as neither, so that rounding never passes for evidence.
    still = float(impl.allowance.allowed(np.array([np.abs(base).max() if base.size else 1.0])).max())
    for name, index, changed in _changes(call):
        got = _output(impl, changed)
        want = _output_of(EXACT, changed) - _output_of(EXACT, call)
        if got is None or got.shape != base.shape or want.shape != base.shape:
            continue
        moved = np.abs(got - base)
        found += _words(call.capability, name, index, (moved > 10 * still, moved <= still),
                        (np.abs(want) > 10 * still, np.abs(want) <= still))
        if len(found) >= MOST_FINDINGS:
            break
    return [f"evidence: {finding}" for finding in found[:MOST_FINDINGS]]


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
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def _changes(call):
    """(description of what changed, the index changed or None for all of it, the changed call)."""
    rng = np.random.default_rng(0)
    named = call.named()
    axes = AXES[call.capability]
    for name, value in named.items():
        if name == "mask" or not isinstance(value, (np.ndarray, dict)):
            continue
        if isinstance(value, dict):
            for key in value:
                changed = {**value, key: _bumped(rng, value[key], ...)}
                yield f"{name}[{key!r}]", None, _with(call, name, changed)
            continue
        if value.dtype.kind != "f":
            continue
        yield name, None, _with(call, name, _bumped(rng, value, ...))
        names = axes.get(name, ())
        for axis in range(value.ndim):
            axis_name = _axis_name(names, axis, value.ndim)
            if axis_name in MOVABLE and value.shape[axis] > 1:
                for position in sorted({0, value.shape[axis] // 2, value.shape[axis] - 1}):
                    where = (slice(None),) * axis + (position,)
                    yield f"{name} at {axis_name} {position}", (axis_name, position), _with(call, name, _bumped(rng, value, where))


def _bumped(rng, array, where):
    changed = np.array(array, copy=True)
    part = changed[where]
    changed[where] = (np.asarray(part, dtype=np.float64) + 0.5 + rng.standard_normal(np.shape(part))).astype(array.dtype)
    return changed


def _with(call, name, value):
    named = {**call.named(), name: value}
    args = [named[key] for key in list(named)[: len(call.args)]]
    return Call(call.capability, *args, case=None, dtype=call.dtype, **call.kwargs)


def _axis_name(names, axis, ndim):
    """The name of `axis` of an array of `ndim` axes, its names given from the last axis back."""
    from_end = ndim - axis
    if from_end <= len(names) and names[-from_end] != "...":
        return names[-from_end]
    return "batch row" if axis == 0 and names and names[0] == "..." else "leading axis"


def _words(capability, name, index, impl, formulas):
    """What is wrong, in words, when what moved in the implementation's output (`impl`: the masks
    of values that moved, and that stayed still) differs from the formulas' (`formulas`)."""
    (moved, still), (should_move, should_stay) = impl, formulas
    if index is None:
        if should_move.any() and still.all():
            return [f"changing {name} does not change the output: {name} is not used"]
        if moved.any() and should_stay.all():
            return [f"changing {name} changes the output, which does not depend on it"]
        return []
    output_names = AXES[capability].get("output", ())
    leaked = moved & should_stay
    if leaked.any():
        at = np.argwhere(leaked)[0]
        return [f"changing {name} changes the output at {_place(output_names, at, moved.ndim)}, which must not "
                f"depend on it"]
    ignored = should_move & still
    if ignored.any():
        at = np.argwhere(ignored)[0]
        return [f"changing {name} does not change the output at {_place(output_names, at, moved.ndim)}, which "
                f"depends on it"]
    return []


def _place(names, index, ndim):
    """Words for an output index: "batch row 0, position 2" (features left out)."""
    parts = []
    for axis, position in enumerate(index):
        axis_name = _axis_name(names, axis, ndim)
        if axis_name in MOVABLE or axis_name == "head":
            parts.append(f"{axis_name} {int(position)}")
    return ", ".join(parts) or f"index {tuple(map(int, index))}"
