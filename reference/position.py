"""Sinusoidal positional encoding, token embedding, and rotary position embedding."""

import numpy as np


def positional_encoding(seq_len, d_model):
    """(seq_len, d_model): PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(same angle)."""
    position = np.arange(seq_len)[:, None]  # (seq_len, 1)
    two_i = np.arange(0, d_model, 2)  # (d_model // 2,): the even feature indices 2i
    angle = position / 10000 ** (two_i / d_model)  # (seq_len, d_model // 2)
    pe = np.zeros((seq_len, d_model))
    pe[:, 0::2] = np.sin(angle)  # even features
    pe[:, 1::2] = np.cos(angle)  # odd features
    return pe


def embed(tokens, embedding):
    """tokens (batch, seq) ints, embedding (vocab, d_model) -> (batch, seq, d_model)."""
    seq = tokens.shape[1]
    d_model = embedding.shape[1]
    return embedding[tokens] + positional_encoding(seq, d_model)  # added, not concatenated


def apply_rope(x, positions):
    """x (..., seq, d), positions (seq,) ints -> (..., seq, d): rotary position embedding.

    The half-split layout (GPT-NeoX, Llama in HF transformers): feature i pairs with feature
    i + d/2, and the pair turns by the angle p * theta_i, theta_i = 10000^(-2i/d).
    """
    d = x.shape[-1]
    assert d % 2 == 0, f"the feature width d={d} is odd: rotary embedding turns pairs of features"
    half = d // 2
    angle = rotary_angles(positions, d)  # (seq, d/2)
    cos, sin = np.cos(angle), np.sin(angle)
    first, second = x[..., :half], x[..., half:]  # (..., seq, d/2) each
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)  # (..., seq, d)


def rotary_angles(positions, d):
    """(seq, d/2): the angle p * theta_i by which position p turns pair i, theta_i = 10000^(-2i/d)."""
    theta = 10000.0 ** (-np.arange(0, d, 2) / d)  # (d/2,): 2i for i < d/2
    return np.asarray(positions)[:, None] * theta
