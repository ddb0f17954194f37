"""Measuring the position encodings of a failing implementation, in the contract's own terms.

- rotation (apply_rope): the kit feeds each unit feature vector at positions 0, 1, 2, 4, ..., 256
  and reads which features turn together (the pairs: half-split, interleaved, other), by which angle
  at each position (unwrapped from one doubling of the position to the next), and from the angles
  each pair's frequency, the direction of the turn, and an offset of the positions, or that the
  angles follow each row's index in the sequence instead of the positions given;
- waves (positional_encoding): the frequency, phase and amplitude of each column of the encoding
  over 512 positions, and from them the law of the frequencies, the order of sin and cos, the
  layout of the columns and an offset of the positions.
The frequencies are said as a law of the contract's form, theta = base^(-exponent), with the base
measured and the exponent the contract's, or a column's own index, or i/d for 2i/d. As in measure.py,
a finding is reported only when its model, the formulas with the measured numbers, reproduces the
implementation within the run's allowance (a measurement then means the same in every dtype), and
its input is kept as a probe on which a look-alike of the catalogue must hold too.
"""

import math

import numpy as np

from attention_conformance.cases import cast_floats
from attention_conformance.measure import Finding, deterministic, probed

BASE = 10000.0
ROTARY_POSITIONS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256)  # doubling: each angle unwraps from the last
MOST_FEATURES = 256  # the rotary probe is d x 10 x d numbers
WAVE_POSITIONS = 512
POSITIONAL = ("apply_rope", "positional_encoding")


def findings(impl, call, got):
    """The position instrument's finding for a failing call of `call.capability` ([] when none
    applies, or the implementation answers the same call differently twice: it would measure noise)."""
    instrument = {"apply_rope": rotation, "positional_encoding": waves}[call.capability]
    if not deterministic(impl, call, _identity, got):
        return []
    found = instrument(impl, call)
    return [found] if found else []


def _identity(result):
    return result


# --- the rotary embedding ----------------------------------------------------------------------


class Rotary:
    """apply_rope turning feature pairs (a, b) by sign * theta_k * (position + offset), the
    position being each row's index in the sequence when `by_row`: the contract with those changed."""

    def __init__(self, pairs, theta, sign=1, offset=0, by_row=False):
        self.pairs, self.theta, self.sign, self.offset, self.by_row = pairs, np.asarray(theta), sign, offset, by_row

    def apply_rope(self, x, positions):
        x = np.asarray(x, dtype=np.float64)
        where = np.arange(x.shape[-2]) if self.by_row else np.asarray(positions, dtype=np.float64)
        angle = self.sign * (where[:, None] + self.offset) * self.theta  # (seq, pairs)
        out = x.copy()
        for k, (a, b) in enumerate(self.pairs):
            cos, sin = np.cos(angle[:, k]), np.sin(angle[:, k])
            out[..., a] = x[..., a] * cos - x[..., b] * sin
            out[..., b] = x[..., b] * cos + x[..., a] * sin
        return out


def contract_pairs(d):
    return [(i, i + d // 2) for i in range(d // 2)]


def rotation(impl, call):
    """Which features turn together, and by what angle at each position."""
    d = call.named()["x"].shape[-1]
    if d % 2 or d > MOST_FEATURES:
        return None
    positions = np.array(ROTARY_POSITIONS)
    x = np.repeat(np.eye(d)[:, None, :], len(positions), axis=1)  # x[i, s] = the unit vector e_i
    probe = probed(impl, call.replaced({"x": cast_floats(x, call.dtype), "positions": positions}), _identity)
    if probe is None:
        return None
    turns = probe.seen.transpose(1, 2, 0)  # (positions, out feature, in feature): each position's matrix
    pairs = _pairs(turns)
    if pairs is None:
        return None
    angles = np.stack([np.arctan2(turns[:, b, a], turns[:, a, a]) for a, b in pairs], axis=1)  # (positions, pairs)
    model = _rotary_model(probe, pairs, angles, d)
    if model is None:
        return None
    data, words, lines = _rotary_words(model, d)
    if not words:
        return None  # the rotation is the contract's: what failed lies elsewhere
    return Finding("rotation", data, tuple(f"evidence: {line}" for line in lines), (words,), (probe.kept(),),
                   why="the output is what the rotary formulas give with the measured pairs and angles")


def _pairs(turns):
    """The feature pairs each position turns together (a < b), or None when the map is not a
    turn of disjoint pairs (a feature mixes with two others, or with none at every position)."""
    d = turns.shape[1]
    weight = np.abs(turns).sum(axis=0)  # (out, in): how much each input feature reaches each output one
    np.fill_diagonal(weight, 0)
    partner = weight.argmax(axis=0)
    if not all(partner[partner[i]] == i and partner[i] != i for i in range(d)):
        return None
    return sorted({tuple(sorted((i, int(partner[i])))) for i in range(d)})


def _rotary_model(probe, pairs, angles, d):
    """The simplest Rotary model that reproduces the implementation on the probe, or None."""
    positions = np.array(ROTARY_POSITIONS, dtype=np.float64)
    for by_row in (False, True):
        where = np.arange(len(positions), dtype=np.float64) if by_row else positions
        fitted = [_line(where, angles[:, k]) for k in range(len(pairs))]
        slopes = np.array([slope for slope, _ in fitted])
        sign = -1 if (slopes < 0).sum() > len(slopes) / 2 else 1
        theta = np.abs(slopes)
        offsets = [intercept / slope for slope, intercept in fitted if abs(slope) > 1e-3]
        offset = round(float(np.median(offsets))) if offsets else 0
        for law in _laws(theta, d, ROTARY_POSITIONS[-1]):
            model = Rotary(pairs, law[1], sign, offset, by_row)
            if probe.reproduced_by(model, _identity):
                return model, law[0]
    return None


def _line(where, wrapped):
    """(slope, intercept) of the angle against the position, unwrapped: each angle is taken
    within pi of what the line through the earlier ones predicts (the positions double, so the
    prediction's error doubles at most)."""
    unwrapped = [wrapped[0], wrapped[0] + _wrap(wrapped[1] - wrapped[0])]
    for n in range(2, len(where)):
        slope, intercept = np.polyfit(where[:n], unwrapped, 1)
        predicted = slope * where[n] + intercept
        unwrapped.append(predicted + _wrap(wrapped[n] - predicted))
    slope, intercept = np.polyfit(where, unwrapped, 1)
    return float(slope), float(intercept)


def _wrap(angle):
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _laws(theta, d, span, exponents=None):
    """(words, frequencies) to try, simplest first: the contract's; its base with another exponent
    (a column's own index j/d, or i/d for 2i/d); a base measured with each exponent, the roundest
    first; the measured frequencies as they are."""
    i = np.arange(len(theta), dtype=np.float64)
    exponents = exponents or (("2i/d", 2 * i / d), ("i/d", i / d))
    yield "", BASE ** -exponents[0][1]
    for words, exponent in exponents[1:]:  # the contract's base with another exponent: "10000^(-i/d)", not "100^(-2i/d)"
        yield f"{BASE:g}^(-{words})", BASE ** -exponent
    for words, exponent in exponents:
        base = _base(theta, exponent, span)
        for digits in range(1, 5) if base else ():  # the roundest base first: "1000", not "999.7"
            rounded = float(f"{base:.{digits}g}")
            yield f"{rounded:g}^(-{words})", rounded ** -exponent
    yield "measured", theta


def _base(theta, exponent, span):
    """The base b for which theta = b^(-exponent) fits best: least squares on the logarithms,
    each frequency weighed by the angle it turns over the `span` of positions measured (at most
    1 rad: a slow wave's frequency is measured the least precisely); exponent 0 left out. Or None."""
    used = (exponent > 0) & (theta > 0)
    if not used.any():
        return None
    weight = np.minimum(1.0, theta[used] * span)
    log_base = -np.sum(weight * exponent[used] * np.log(theta[used])) / np.sum(weight * exponent[used] ** 2)
    return math.exp(log_base) if 0 < log_base < 50 else None


def _rotary_words(fitted, d):
    """(data, title, evidence lines) of a measured rotation; no title when it is the contract's."""
    model, law = fitted
    half_split = model.pairs == contract_pairs(d)
    interleaved = model.pairs == [(2 * i, 2 * i + 1) for i in range(d // 2)]
    data = {"pairs": [list(pair) for pair in model.pairs], "theta": [float(t) for t in model.theta],
            "sign": model.sign, "offset": model.offset, "by_row": model.by_row}
    said = []
    if not half_split:
        said.append("rotary embedding in the interleaved layout" if interleaved
                    else "rotary embedding turns other pairs of features than (i, i + d/2)")
    if law:
        said.append(f"rotary frequencies {law}, not 10000^(-2i/d)" if law != "measured"
                    else "rotary frequencies other than 10000^(-2i/d)")
    if model.sign < 0:
        said.append("rotary embedding turns the wrong way")
    if model.by_row:
        said.append("rotary angles follow each row's index, not the positions given")
    if model.offset:
        said.append(f"rotary positions shifted by {model.offset:+d}")
    first = model.pairs[1] if len(model.pairs) > 1 else model.pairs[0]
    lines = [f"measured the rotary embedding on unit vectors at positions {', '.join(map(str, ROTARY_POSITIONS))}: "
             f"features turn in pairs {_pairs_said(model.pairs)} (the contract: {_pairs_said(contract_pairs(d))})",
             f"pair {first} turns by {model.sign * model.theta[1 if len(model.pairs) > 1 else 0]:.6g} rad per position"
             f"{' of the row index' if model.by_row else ''}"
             f"{f', counted from {model.offset:+d}' if model.offset else ''}; "
             f"the contract: {BASE ** (-2 / d) if len(model.pairs) > 1 else 1.0:.6g} (theta_i = 10000^(-2i/d), d = {d})"]
    if interleaved:
        lines.append("the interleaved layout is a convention (GPT-J, Meta's Llama checkpoints), not a slip: to meet the "
                     "contract's half-split one, permute the features at the boundary: turn x[..., [0, d/2, 1, d/2 + 1, ...]] "
                     "(the halves interleaved) and take the result's features [0, 2, 4, ..., 1, 3, 5, ...]")
    if not said:
        return data, None, lines
    return data, "; ".join(said), lines


def _pairs_said(pairs):
    shown = ", ".join(str(pair) for pair in pairs[:3])
    return shown + (", ..." if len(pairs) > 3 else "")


# --- the sinusoidal encoding -------------------------------------------------------------------


class Waves:
    """positional_encoding whose column c is amplitude_c * sin(frequency_c * p + phase_c)."""

    def __init__(self, frequency, phase, amplitude):
        self.frequency, self.phase, self.amplitude = map(np.asarray, (frequency, phase, amplitude))

    def positional_encoding(self, seq_len, d_model):
        p = np.arange(seq_len, dtype=np.float64)[:, None]
        return self.amplitude * np.sin(p * self.frequency + self.phase)


def contract_waves(d):
    pair = np.arange(d) // 2
    return BASE ** (-2 * pair / d), np.where(np.arange(d) % 2, math.pi / 2, 0.0)


def waves(impl, call):
    """The frequency, phase and amplitude of each column of the encoding."""
    d = call.named()["d_model"]
    if d > MOST_FEATURES * 2:
        return None
    probe = probed(impl, call.replaced({"seq_len": WAVE_POSITIONS, "d_model": d}), _identity)
    if probe is None or probe.seen.ndim != 2:
        return None
    measured = [_wave(probe.seen[:, c]) for c in range(d)]
    frequency, phase, amplitude = (np.array(values) for values in zip(*measured))
    return _waves_finding(probe, d, frequency, phase, amplitude)


def _wave(s):
    """(frequency, phase, amplitude) of s(p) = amplitude * sin(frequency * p + phase), p = 0, 1, ...:
    the frequency from s(p + L) + s(p - L) = 2 cos(frequency L) s(p), with the lag L grown for slow
    waves until the turn over it is measurable, then amplitude and phase by least squares."""
    frequency = _frequency(s, 1)
    lag = 1
    while frequency * lag < 0.5 and lag * 4 < len(s):
        lag *= 2
        frequency = _frequency(s, lag)
    p = np.arange(len(s), dtype=np.float64)
    basis = np.stack([np.sin(frequency * p), np.cos(frequency * p)], axis=1)
    (a, b), *_ = np.linalg.lstsq(basis, s, rcond=None)
    return frequency, math.atan2(b, a), math.hypot(a, b)


def _frequency(s, lag):
    middle = s[lag:-lag]
    power = float(np.dot(middle, middle))
    if power == 0:
        return 0.0
    cosine = float(np.dot(s[2 * lag:] + s[: -2 * lag], middle)) / (2 * power)
    return math.acos(min(1.0, max(-1.0, cosine))) / lag


def _waves_finding(probe, d, frequency, phase, amplitude):
    """The words for the measured waves: their layout, the law of their frequencies, their offset."""
    want_frequency, want_phase = contract_waves(d)
    data = {"frequency": frequency.tolist(), "phase": phase.tolist(), "amplitude": amplitude.tolist()}
    for layout, order in _layouts(d):
        for offset in range(0, 3):
            for law, law_frequency in _laws(frequency[order], d, WAVE_POSITIONS, _column_exponents(d)):
                model_phase = (want_phase + offset * law_frequency) % (2 * math.pi)
                model = Waves(law_frequency[_inverse(order)], model_phase[_inverse(order)], np.ones(d))
                if probe.reproduced_by(model, _identity):
                    return _said_waves(probe, data, layout, offset, law, d)
    swapped = Waves(want_frequency, (want_phase + math.pi / 2) % math.pi, np.ones(d))
    if probe.reproduced_by(swapped, _identity):
        return _said_waves(probe, data, "sin and cos swapped (cos in the even columns)", 0, "", d)
    return None


def _layouts(d):
    """(words, order): the contract's interleaved columns; sin of every pair, then every cos (tensor2tensor)."""
    yield "", np.arange(d)
    if d % 2 == 0:
        yield ("the encoding in the concatenated layout [sin | cos], not sin and cos interleaved",
               np.argsort(np.concatenate([np.arange(0, d, 2), np.arange(1, d, 2)])))


def _inverse(order):
    return np.argsort(order)


def _column_exponents(d):
    column = np.arange(d, dtype=np.float64)
    return (("2i/d", 2 * (column // 2) / d), ("j/d, j the column's own index", column / d), ("i/d", (column // 2) / d))


def _said_waves(probe, data, layout, offset, law, d):
    said = [words for words in (layout,
                                f"encoding frequencies {law}, not 10000^(-2i/d)" if law and law != "measured" else
                                "encoding frequencies other than 10000^(-2i/d)" if law else "",
                                f"encoding positions counted from {offset}" if offset else "") if words]
    if not said:
        return None
    line = (f"evidence: measured each column of the encoding over {WAVE_POSITIONS} positions as a * sin(f * p + phase): "
            f"column 2 has f = {data['frequency'][2 % d]:.6g}, phase {round(data['phase'][2 % d], 4) + 0:.4g}; "
            f"column 3 has f = {data['frequency'][3 % d]:.6g}, phase {round(data['phase'][3 % d], 4) + 0:.4g}; the contract: "
            f"f = 10000^(-2i/d) = {BASE ** (-2 / d):.6g} for both, phase 0 (sin) and pi/2 (cos), d = {d}")
    lines = (line,)
    if layout.startswith("the encoding in the concatenated layout"):
        lines += ("evidence: the concatenated layout is a convention (tensor2tensor's get_timing_signal_1d), not a "
                  "slip: to meet the contract's, interleave the halves: np.stack([pe[:, :d // 2], pe[:, d // 2:]], "
                  "axis=-1).reshape(len(pe), d)",)
    return Finding("waves", {**data, "offset": offset}, lines, ("; ".join(said),), (probe.kept(),),
                   why="the output is what the encoding's formula gives with the measured columns")
