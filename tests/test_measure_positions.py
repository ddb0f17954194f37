"""The position instruments (attention_conformance.measure_positions), in process: the rotary
embedding's pairs, frequencies, direction and positions, and the sinusoidal encoding's columns,
measured in every dtype on variants written unlike the catalogue's mutants; a correct
implementation written differently is measured as the contract's, and nothing is said."""

import math
import types

import numpy as np
import pytest

from attention_conformance import measure_positions
from attention_conformance.calls import Call
from attention_conformance.cases import rope_inputs
from attention_conformance.implementation import Implementation

DTYPES = ("float64", "float32", "float16", "bfloat16")


def rope(base=10000.0, interleaved=False, sign=1, shift=0, by_row=False, exponent=2):
    """apply_rope with complex numbers (Meta's Llama style): the contract when every argument is its default."""

    def apply_rope(x, positions):
        d = x.shape[-1]
        where = np.arange(x.shape[-2]) if by_row else np.asarray(positions)
        angle = sign * np.outer(where + shift, base ** (-exponent * np.arange(d // 2) / d))  # (seq, d/2)
        if interleaved:
            z = x[..., 0::2] + 1j * x[..., 1::2]
        else:
            z = x[..., : d // 2] + 1j * x[..., d // 2:]
        turned = z * np.exp(1j * angle)
        if interleaved:
            out = np.stack([turned.real, turned.imag], axis=-1).reshape(x.shape)
        else:
            out = np.concatenate([turned.real, turned.imag], axis=-1)
        return out.astype(x.dtype)

    return types.SimpleNamespace(apply_rope=apply_rope)


def encoding(base=10000.0, concatenated=False, shift=0, exponent=None):
    """positional_encoding with explicit loops (a learner's style); `exponent(j, d)` of column j."""
    exponent = exponent or (lambda j, d: 2 * (j // 2) / d)

    def positional_encoding(seq_len, d_model):
        pe = np.zeros((seq_len, d_model))
        for p in range(seq_len):
            for j in range(d_model):
                pair = j % (d_model // 2) if concatenated else j
                column_exponent = exponent(2 * pair + (j >= d_model // 2), d_model) if concatenated else exponent(j, d_model)
                angle = (p + shift) / base ** column_exponent
                is_sin = j < d_model // 2 if concatenated else j % 2 == 0
                pe[p, j] = math.sin(angle) if is_sin else math.cos(angle)
        return pe

    return types.SimpleNamespace(positional_encoding=positional_encoding)


def rope_call(dtype, d=8):
    inputs = rope_inputs(seed=3, lead=(2,), seq=5, d=d, start=3, dtype=dtype)
    return Call("apply_rope", inputs["x"], inputs["positions"], dtype=dtype)


def measured(namespace, call):
    """What the diagnosis of a failing check of `call` would name from the position instruments."""
    impl = Implementation("variant", namespace, dtype=call.dtype)
    got = np.asarray(call.attempt(impl)[0], dtype=np.float64)
    return [finding.title for finding in measure_positions.findings(impl, call, got)]


ROTARY = {
    "rotary frequencies 1000^(-2i/d), not 10000^(-2i/d)": dict(base=1000.0),
    "rotary frequencies 500000^(-2i/d), not 10000^(-2i/d)": dict(base=500000.0),
    "rotary frequencies 10000^(-i/d), not 10000^(-2i/d)": dict(exponent=1),
    "rotary embedding in the interleaved layout": dict(interleaved=True),
    "rotary embedding turns the wrong way": dict(sign=-1),
    "rotary positions shifted by +1": dict(shift=1),
    "rotary angles follow each row's index, not the positions given": dict(by_row=True),
    "rotary embedding in the interleaved layout; rotary frequencies 500000^(-2i/d), not 10000^(-2i/d)":
        dict(interleaved=True, base=500000.0),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("title", ROTARY)
def test_the_rotary_embeddings_pairs_frequencies_direction_and_positions_are_measured(title, dtype):
    assert measured(rope(**ROTARY[title]), rope_call(dtype, d=16)) == [title]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_rotary_measurement_carries_its_numbers(dtype):
    impl = Implementation("variant", rope(base=1000.0), dtype=dtype)
    found = measure_positions.rotation(impl, rope_call(dtype))
    assert found.data["pairs"][:2] == [[0, 4], [1, 5]] and found.data["sign"] == 1 and found.data["offset"] == 0
    assert found.data["theta"][1] == pytest.approx(1000 ** -0.25, rel=0.01)
    assert "0.177828 rad per position" in found.lines[1] and "the contract: 0.1 " in found.lines[1]


WAVES = {
    "encoding frequencies 1000^(-2i/d), not 10000^(-2i/d)": dict(base=1000.0),
    "the encoding in the concatenated layout [sin | cos], not sin and cos interleaved": dict(concatenated=True),
    "encoding positions counted from 1": dict(shift=1),
    "encoding frequencies 10000^(-j/d, j the column's own index), not 10000^(-2i/d)": dict(exponent=lambda j, d: j / d),
    "sin and cos swapped (cos in the even columns)": None,
}


def swapped_encoding():
    return types.SimpleNamespace(positional_encoding=lambda seq_len, d_model: encoding().positional_encoding(seq_len, d_model)[
        :, np.arange(d_model) ^ 1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("title", WAVES)
def test_the_encodings_frequencies_layout_and_positions_are_measured(title, dtype):
    variant = swapped_encoding() if WAVES[title] is None else encoding(**WAVES[title])
    assert measured(variant, Call("positional_encoding", 50, 16, dtype=dtype)) == [title]


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_correct_position_encoding_written_differently_is_measured_as_the_contracts(dtype):
    assert measured(rope(), rope_call(dtype, d=16)) == []
    assert measured(encoding(), Call("positional_encoding", 50, 16, dtype=dtype)) == []


def test_a_map_that_is_no_turn_of_pairs_is_not_described():
    mixed = types.SimpleNamespace(apply_rope=lambda x, positions: x @ np.ones((x.shape[-1], x.shape[-1])))
    assert measured(mixed, rope_call("float64")) == []


def test_an_implementation_that_answers_differently_each_time_is_not_measured():
    rng = np.random.default_rng(0)
    noisy = types.SimpleNamespace(apply_rope=lambda x, positions: x + rng.standard_normal(x.shape) * 1e-3)
    assert measured(noisy, rope_call("float64")) == []


def test_the_convention_lines_say_a_change_at_the_boundary_that_makes_the_contracts_answer():
    d, rng = 8, np.random.default_rng(5)
    x, positions = rng.standard_normal((2, 5, d)), np.arange(3, 8)
    interleave, take = np.ravel(np.stack([np.arange(d // 2), np.arange(d // 2, d)], axis=-1)), np.r_[0:d:2, 1:d:2]
    from attention_conformance.reference import apply_rope, positional_encoding

    assert np.allclose(rope(interleaved=True).apply_rope(x[..., interleave], positions)[..., take], apply_rope(x, positions))
    impl = Implementation("variant", rope(interleaved=True), dtype="float64")
    assert "turn x[..., [0, d/2, 1, d/2 + 1, ...]]" in measure_positions.rotation(impl, rope_call("float64")).lines[-1]
    pe = encoding(concatenated=True).positional_encoding(7, d)
    assert np.allclose(np.stack([pe[:, : d // 2], pe[:, d // 2:]], axis=-1).reshape(len(pe), d), positional_encoding(7, d))
    impl = Implementation("variant", encoding(concatenated=True), dtype="float64")
    assert "np.stack([pe[:, :d // 2], pe[:, d // 2:]]" in measure_positions.waves(impl, Call("positional_encoding", 7, d)).lines[-1]
