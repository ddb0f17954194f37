"""Naming the mistake from evidence: what a failing check saw, against what each classic mistake
of the catalogue would compute on the same inputs.

The catalogue is the hand-written mutants (attention_conformance.mutants): each is a whole
implementation with one mistake, and its docstring tells the mistake. A failing check asks every
mutant that reaches the callable under test for its answer to the same call; the mistakes whose
answer matches what the implementation gave are the candidates. One candidate is named; two or
more are listed, and the end-of-run summary weighs the other checks (consensus); none leaves the
word to the probes (probes.py), which say what moved that should not have, or what did not move.
"""

import contextlib
import functools
import io
import pkgutil
from dataclasses import dataclass, field
from importlib import import_module

import numpy as np

from attention_conformance import (measure, measure_gradients, measure_packed, measure_paged, measure_positions,
                                   measure_serving, mutants, oracle, records)
from attention_conformance.contract import BACKWARD, SERVING
from attention_conformance.gradients import gradients
from attention_conformance.precision import TOLERANCES, excess_over

# A candidate named by a measurement, not by the catalogue: its title follows (consensus).
MEASURED = "measured: "
# A mistake that also raises on a call the implementation raised on: no evidence on its own (any
# code may raise), only no evidence against it where the other checks' answers name it (consensus).
RAISES = "raises too: "
# Diagnosing a check costs one call of each mutant that reaches the callable: above this many
# attention scores (lead axes x queries x keys) it would take long, and is left out.
LARGEST_DIAGNOSED = 2**22
# Above that size (a kernel profile's; the default profile's calls stay below), the instruments
# and probes run on the first few failing checks of each callable only: each costs seconds there,
# and a tile bug fails a hundred checks.
MOST_LARGE_DIAGNOSED = 3


@dataclass(frozen=True)
class Mistake:
    """One entry of the catalogue: a mutant module and what its docstring tells."""

    name: str
    title: str
    mistake: str
    symptom: str
    fix: str
    seen_in: str
    functions: frozenset = field(default_factory=frozenset)
    measured: tuple = ()  # the titles instruments (measure.py) give this very mistake, on any callable

    @property
    def module(self):
        return import_module(f"{mutants.__name__}.{self.name}")

    def explain(self, why):
        """The lines a failure shows: the mistake named and why, its symptom, its fix."""
        return f"looks like: {self.title} ({why})\nsymptom: {self.symptom}\nfix: {self.fix}"


@functools.cache
def catalogue():
    """{name: Mistake} for every hand-written mutant."""
    found = {}
    for info in pkgutil.iter_modules(mutants.__path__):
        module = import_module(f"{mutants.__name__}.{info.name}")
        title, sections = parse_docstring(module.__doc__)
        functions = mutants.faulty_functions(module)
        found[info.name] = Mistake(info.name, title, sections["Mistake"], sections["Symptom"], sections["Fix"],
                                   sections.get("Seen in", ""), frozenset(functions), _titles(sections.get("Measured", "")))
    return found


def parse_docstring(text):
    """(title, {"Mistake": ..., "Symptom": ..., "Fix": ..., "Seen in": ..., "Measured": ...}) of a mutant's docstring:
    the first line, then paragraphs that open with their section's name and a colon."""
    title, _, body = text.strip().partition("\n")
    sections, current = {}, None
    for line in body.strip().splitlines():
        name, colon, rest = line.partition(": ")
        if colon and name in ("Mistake", "Symptom", "Fix", "Seen in", "Measured"):
            current, sections[name] = name, rest.strip()
        elif current:
            sections[current] += " " + line.strip()
    return title.strip(), sections


def _titles(measured):
    """The instruments' titles of a "Measured:" section: one, or several separated by "; "."""
    return tuple(title.strip() for title in measured.split("; ") if title.strip())


@functools.cache
def reached_by(capability):
    """The reference's functions that its `capability` calls, itself included."""
    functions = mutants.reference_functions()
    reached, todo = set(), [capability]
    while todo:
        name = todo.pop()
        if name in functions and name not in reached:
            reached.add(name)
            todo += _names(functions[name].__code__)
    return frozenset(reached)


def _names(code):
    """The global names a code object uses, its nested comprehensions' and generators' included."""
    nested = [name for const in code.co_consts if hasattr(const, "co_names") for name in _names(const)]
    return [*code.co_names, *nested]


def relevant(capability):
    """The mistakes whose functions the callable reaches; for a backward callable, only those of the
    backward pass. A mistake of the forward pass shows in the forward's own checks, which weigh its
    look-alikes; its gradient alone can single out one of several forward mistakes that compute the
    same gradient (a mask forgotten and a mask of the wrong shape), and name the wrong one."""
    reached = reached_by(capability)
    if capability in BACKWARD:
        reached = reached & _backward_functions()
    return [mistake for mistake in catalogue().values() if mistake.functions & reached]


@functools.cache
def _backward_functions():
    """The reference's functions of the backward pass (reference/backward.py)."""
    return frozenset(name for name, function in mutants.reference_functions().items()
                     if function.__module__.endswith(".backward"))


def explain(impl, call, observe, got, expected, plain):
    """The evidence lines of a failure, and a line for what the implementation printed meanwhile."""
    # The diagnosis calls the implementation again and again: what it prints there would bury the
    # report (a debug print per call, times the probes), so it is counted and dropped.
    printed = _Printed()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        lines = _explained(impl, call, observe, got, expected, plain)
    if printed.lines:
        lines.append(f"evidence: the implementation printed {printed.lines} lines while the kit diagnosed this "
                     "failure, not shown")
    return lines


class _Printed(io.TextIOBase):
    """A stream that keeps nothing but the count of lines written to it."""

    def __init__(self):
        super().__init__()
        self.complete, self.unfinished = 0, False

    @property
    def lines(self):
        return self.complete + self.unfinished

    def writable(self):
        return True

    def write(self, text):
        self.complete += text.count("\n")
        if text:
            self.unfinished = not text.endswith("\n")
        return len(text)


def _explained(impl, call, observe, got, expected, plain):
    """The evidence lines of a failure: the mistake named, the candidates, or the probes' findings.

    One look-alike of the catalogue that also holds on inputs of other sizes is named at once.
    Otherwise the instruments measure (measure.py), and a look-alike stays a candidate only if it
    also reproduces the implementation on their inputs: one candidate is named, with the
    measurements as evidence; with none, a measurement that singles out a mistake names it."""
    if not _affordable(impl, call):
        return [f"(not diagnosed: the kit diagnosed the first {MOST_LARGE_DIAGNOSED} failing checks of "
                f"{call.capability} this large in this run; run this check alone to diagnose it)"]
    candidates = matching(impl, call, observe, got, expected, plain)
    resized = measure.resized_probe(impl, call, observe) if candidates else None
    if resized is not None:  # a look-alike must also give what the implementation gives on other sizes
        candidates = [mistake for mistake in candidates if resized.reproduced_by(mistake.module, observe)]
    decoding = getattr(call, "capability", None) in measure.DECODERS
    if len(candidates) == 1 and not decoding:
        found = []  # one look-alike, and it holds on other sizes too: measuring would only cost
    else:  # a decoding step's one query sees alike under several mistakes: what it sees is measured too
        found = measurements(impl, call, observe, got, expected, plain)
        candidates = [mistake for mistake in candidates if measure.holds(mistake.module, found, observe)]
    records.note(measurements={finding.instrument: finding.data for finding in found if finding.data})
    measured = [line for finding in found for line in finding.lines]
    why = "the output is what that mistake computes on these inputs"
    if len(candidates) > 1:
        narrowed = _narrowed(impl, call, observe, candidates)
        if len(narrowed) == 1:
            candidates, why = narrowed, f"{why}, and also with the inputs' leading axes folded into one"
    titles = measure.named(found)
    if not candidates and titles:
        # The check's inputs can be too ill-conditioned for a look-alike to match in low precision
        # (a sharper softmax rounds differently), while the instruments' inputs are well conditioned:
        # a catalogue mistake that gives what the implementation gave on every one of them is named;
        # several, beside one measured description, are candidates as look-alikes are (a softmax
        # over axis 2 and one over axis -2 of a layer's 4-D scores give the same weights).
        candidates = _reproducing(call, observe, found)
        candidates = candidates if len(candidates) == 1 or len(titles) == 1 else []
        why = "the output is what that mistake computes on every input the instruments drew"
    if not candidates and titles:  # a measurement singles out what is wrong, or a few descriptions
        records.note(candidates=[MEASURED + title for title in titles])
        if len(titles) == 1:
            (finding,) = [finding for finding in found if finding.titles == titles]
            records.note(diagnosis=titles[0])
            return [f"looks like: {titles[0]} (measured: {finding.why})", *measured]
        return [f"measured: fits {len(titles)} descriptions: {'; '.join(titles)} (the summary at the end weighs the "
                "other checks)", *measured]
    if candidates and decoding:  # a decoder's measured descriptions all go beside its look-alikes
        shared = [MEASURED + title for title in titles]
    elif len(candidates) > 1 and len(titles) == 1:
        # Several look-alikes and one measured description: the summary may name the description if
        # the look-alikes stay together over every check (two mistakes that both leave a mask unapplied).
        shared = [MEASURED + titles[0]]
    else:
        shared = []
    records.note(candidates=[mistake.name for mistake in candidates] + shared)
    if len(candidates) == 1:
        (mistake,) = candidates
        records.note(diagnosis=mistake.title)
        return [mistake.explain(why), *measured]
    if candidates:
        described = f"; measured: {titles[0]}" if shared else ""
        listed = "; ".join(mistake.title for mistake in candidates)
        return [f"fits {len(candidates)} mistakes of the catalogue: {listed}{described} (the summary at the end weighs "
                "the other checks)", *measured]
    from attention_conformance import probes

    return measured or probes.findings(impl, call, expected)


def _affordable(impl, call):
    """Whether to diagnose a failing call: any call up to LARGEST_DIAGNOSED, and the first
    MOST_LARGE_DIAGNOSED larger ones of each callable in the run (counted here)."""
    if _size(call) <= LARGEST_DIAGNOSED:
        return True
    key = ("large", getattr(call, "capability", None))
    impl.diagnosed[key] += 1
    return impl.diagnosed[key] <= MOST_LARGE_DIAGNOSED


def measurements(impl, call, observe, got, expected, plain):
    """The instruments' findings: the precision the output was computed in, or what the callable's
    own instruments measure (the positions', the gradients', or the attention's)."""
    narrower = measure.narrower(impl, call, observe, got, expected) if hasattr(call, "named") else None
    if narrower:
        return [narrower]
    if getattr(call, "capability", None) in measure_positions.POSITIONAL:
        return measure_positions.findings(impl, call, got)
    if getattr(call, "capability", None) == "varlen_attention":
        return _or_queried(measure_packed.findings(impl, call, observe, got), impl, call, observe, got)
    if getattr(call, "capability", None) == "paged_attention":
        return _or_queried(measure_paged.findings(impl, call, observe, got), impl, call, observe, got)
    if getattr(call, "capability", None) == "modified_attention":  # the modifiers: the catalogue's look-alikes
        return measure.queried(impl, call, observe, got)
    if getattr(call, "capability", None) in SERVING:
        found = measure_serving.findings(call, got, expected, impl.allowance.allowed(expected, plain))
        return _or_queried(found, impl, call, observe, got)
    if getattr(call, "capability", None) in BACKWARD:
        allowance = impl.allowance_of(call.capability)
        if plain is None and allowance.needs_plain:  # a gradient of another shape: the check had no need of them
            plain = tuple(np.asarray(observe(call.on(formulas)), dtype=np.float64) for formulas in oracle.plain(impl.dtype, call.capability))
        return measure_gradients.findings(call, got, expected, allowance.allowed(expected, plain))
    return measure.findings(impl, call, observe, got, expected, plain)


def _or_queried(found, impl, call, observe, got):
    """A serving callable's own findings, or, where they name nothing, what the serving callables'
    shared instruments measure (measure.queried: the scale, the weights' axis, the heads read)."""
    return found if any(finding.titles for finding in found) else [*found, *measure.queried(impl, call, observe, got)]


def matching(impl, call, observe, got, expected, plain):
    """The mistakes whose answer to `call` matches `got` (none when the call is too large to diagnose)."""
    if _size(call) > LARGEST_DIAGNOSED:
        return []
    allowance = impl.allowance_of(call.capability)
    # What rounding allows at each value, measured on the contract's answer and the plain formulas,
    # never on a mistake's answer: a mistake's answer is far from the plain formulas' answers, and
    # an allowance measured on it would let every look-alike match in low precision.
    allowed = allowance.allowed(expected, plain)
    # Where the contract's answer is infinite (a mask's -inf), only the same infinity matches: an
    # allowance grown with |expected| would let any finite number pass for it.
    allowed = np.where(np.isinf(expected), 0.0, allowed)
    found = []
    for mistake in relevant(call.capability):
        module = mistake.module
        try:
            if hasattr(module, "evidence"):  # a mistake that shows in the numbers' precision, not their values
                matched = module.evidence(got, expected, impl.dtype)
            else:  # the mistake's answer matches what the implementation gave, and fails the check itself
                would = np.asarray(observe(call.on(module)), dtype=np.float64)
                same_shape = would.shape == expected.shape
                near = allowed if same_shape else allowance.allowed(would)
                if call.capability in BACKWARD:
                    near = _magnified(near, would, expected)
                matched = would.shape == got.shape and bool(
                    (excess_over(got, would, near) <= 1).all()
                    and not (same_shape and (allowance.excess(would, expected, plain) <= 1).all())
                ) and _same_gradients(impl, call, module)
        except Exception:  # the mistake raises on these inputs (a shape error): no evidence either way
            matched = False
        if matched:
            found.append(mistake)
    return found


def raising_alike(call):
    """RAISES + the name of each mistake of the catalogue that reaches `call`'s callable and raises
    on it too, for a call the implementation raised on (none when the call is too large)."""
    if _size(call) > LARGEST_DIAGNOSED:
        return []
    found = []
    for mistake in relevant(call.capability):
        if hasattr(mistake.module, "evidence"):
            continue
        try:
            call.on(mistake.module)
        except Exception:
            found.append(RAISES + mistake.name)
    return found


def _same_gradients(impl, call, module):
    """For a backward callable, whether the look-alike gives every gradient the implementation gave,
    not only the one checked (a dk off by sqrt(d_k) is not a mistake that also puts dq off); True
    for the forward callables, whose checks observe what names the mistake."""
    result = getattr(call, "returned", None)
    if call.capability not in BACKWARD or result is None:
        return True
    allowance = impl.allowance_of(call.capability)
    answers = [call.on(formulas) for formulas in oracle.plain(impl.dtype, call.capability)] if allowance.needs_plain else None
    for _, read in gradients(call.capability):
        got, would, exact = (np.asarray(read(answer), dtype=np.float64)
                             for answer in (result, call.on(module), call.on(oracle.EXACT)))
        if got.shape != would.shape:
            return False
        plain = answers and tuple(np.asarray(read(answer), dtype=np.float64) for answer in answers)
        allowed = allowance.allowed(exact, plain) if exact.shape == got.shape else allowance.allowed(would)
        allowed = _magnified(allowed, would, exact)
        if not (excess_over(got, would, np.where(np.isinf(exact), 0.0, allowed)) <= 1).all():
            return False
    return True


def _magnified(allowed, would, exact):
    """What rounding allows a look-alike's gradient: rounding grows with the values, and a gradient
    sqrt(d_k) times too large rounds sqrt(d_k) times as far as the contract's."""
    return allowed * max(1.0, _largest(would) / max(_largest(exact), np.finfo(np.float64).tiny))


def _largest(values):
    """The largest finite magnitude among the values (0 for none)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


def _reproducing(call, observe, found):
    """The mistakes of the catalogue that give what the implementation gave on every probe of the
    findings ([] when a finding has no probe to hold them to)."""
    if not found or not all(finding.probes for finding in found):
        return []
    return [mistake for mistake in relevant(call.capability)
            if not hasattr(mistake.module, "evidence") and measure.holds(mistake.module, found, observe)]


def _narrowed(impl, call, observe, candidates):
    """The candidates that still match when the same inputs are asked again with their leading
    axes folded into one (4-D to 3-D): a mistake that depends on the number of axes shows there."""
    folded = _folded(call)
    if folded is None:
        return candidates
    result, problem, _ = folded.attempt(impl)
    if problem:
        return candidates
    try:
        got = np.asarray(observe(result), dtype=np.float64)
        expected = np.asarray(observe(folded.on(oracle.EXACT)), dtype=np.float64)
        plain, allowance = None, impl.allowance_of(folded.capability)
        if allowance.needs_plain:
            plain = tuple(np.asarray(observe(folded.on(formulas)), dtype=np.float64) for formulas in oracle.plain(impl.dtype, folded.capability))
        allowed = allowance.allowed(expected, plain)  # measured on the contract's answer (see matching)
    except Exception:
        return candidates
    still = []
    for mistake in candidates:
        try:
            would = np.asarray(observe(folded.on(mistake.module)), dtype=np.float64)
        except Exception:
            continue
        if would.shape == got.shape == expected.shape and (excess_over(got, would, allowed) <= 1).all():
            still.append(mistake)
    return still or candidates


def _folded(call):
    """The call with the leading axes of its arrays folded into one, or None when it has none to fold."""
    from attention_conformance.calls import Call
    from attention_conformance.contract import AXES

    names = AXES.get(call.capability, {})
    if not hasattr(call, "named") or not names or next(iter(names.values()))[0] != "...":
        return None
    arrays = {name: value for name, value in call.named().items() if isinstance(value, np.ndarray)}
    lead = np.broadcast_shapes(*(value.shape[:-2] for value in arrays.values()))
    if len(lead) < 2:
        return None
    args = []
    for name, value in zip(call.named(), call.args):
        if name in arrays:
            value = np.broadcast_to(value, lead + value.shape[-2:]).reshape(-1, *value.shape[-2:]).copy()
        args.append(value)
    return Call(call.capability, *args, case=None, dtype=call.dtype, **call.kwargs)


def computes_in_float32(got, expected, dtype):
    """A float64 run whose every value is a float32 number within float32's tolerance of the
    expected: the implementation computes in float32 (the precision mistake's evidence)."""
    return dtype == "float64" and bool(
        np.array_equal(got, got.astype(np.float32).astype(np.float64), equal_nan=True)
        and (TOLERANCES["float32"].excess(got, expected) <= 1).all()
        and not np.array_equal(expected, expected.astype(np.float32).astype(np.float64))
    )


def _size(call):
    """How many attention scores the call computes, roughly: the largest array it is given, squared
    along its positions when it has some."""
    arrays = [value for value in getattr(call, "args", ()) if isinstance(value, np.ndarray)]
    if hasattr(call, "x"):
        arrays.append(call.x)
    if not arrays:
        return 0
    largest = max(arrays, key=lambda array: array.size)
    return largest.size * (largest.shape[-2] if largest.ndim >= 2 else 1)


def consensus(failing, conforming, named=frozenset(), described=True):
    """The one mistake that explains every failing check, or None.

    `failing`: for each failing check, the names of the mistakes whose answers matched, or a
    measured mistake's title after MEASURED (empty when none did, or the check could not ask: then
    nothing is explained). `conforming`: the callables whose every check passed; among several
    look-alikes, one inside such a callable is ruled out, since it would have failed its checks. A
    lone look-alike stays: an implementation need not build its layers from its own callables (a
    grouped-query layer with its own merge of the heads), and the evidence singles it out. `named`:
    the mistakes of the catalogue that other callables' checks single out in the same run; one of
    them among several look-alikes is the one. `described` False: several look-alikes and the one
    description measured of them all name nothing (what singles out a mistake for `named`: the
    description may be one look-alike's title, which the others reproduce as well). A check that
    raised counts for the mistake the others name only if that mistake raises on its call too
    (RAISES), and at least one check must have answered."""
    raised = [{name[len(RAISES):] for name in names} for names in failing if names and _raised(names)]
    failing = [names for names in failing if not (names and _raised(names))]
    found = _explaining(failing, conforming, named, described)
    if raised and not (isinstance(found, Mistake) and all(found.name in names for names in raised)):
        return None
    return found


def _raised(names):
    """Whether a check's candidates are only mistakes that raise too: its call raised."""
    return all(name.startswith(RAISES) for name in names)


def _explaining(failing, conforming, named, described):
    """consensus over the checks that answered."""
    if not failing or not all(failing):
        return None
    table = catalogue()
    # a measured title that is a catalogue mistake stands for it too: one check's look-alike and
    # another's measurement agree
    aliases = {name: _measured_as(name[len(MEASURED):]) for names in failing for name in names if name not in table}
    failing = [{*names, *(aliases[name].name for name in names if aliases.get(name))} for names in failing]
    common = set.intersection(*map(set, failing))
    alike = {name for name in common if name in table}
    looking_alike = _outside(alike, conforming)
    measured = {name for names in failing for name in names if name not in table}
    if len(looking_alike) == 1:  # one look-alike of the catalogue fits everywhere: it comes with its fix
        plausible = looking_alike
    elif len(looking_alike & set(named)) == 1:
        plausible = looking_alike & set(named)
    elif len(looking_alike) > 1 and len(measured) == 1 and described:
        plausible = measured  # the same look-alikes everywhere, one measured description of them: it is named
    else:
        plausible = set() if alike else common  # several look-alikes, or one measured description alone
    if len(plausible) != 1:
        return None
    (name,) = plausible
    if name in table:
        return table[name]
    title = name[len(MEASURED):]
    return _measured_as(title) or Measured(title)


def _outside(names, conforming):
    """The mistakes among `names` whose functions are not all in conforming callables; all of them
    when none is (ruling out narrows, it never leaves nothing)."""
    table = catalogue()
    return {name for name in names if not table[name].functions <= set(conforming)} or set(names)


def _measured_as(title):
    """The catalogue's mistake an instrument's title is (its mutant's "Measured:" line), or None."""
    return next((mistake for mistake in catalogue().values() if title in mistake.measured), None)


@dataclass(frozen=True)
class Measured:
    """A mistake named by the kit's instruments (measure.py), not by the catalogue."""

    title: str
