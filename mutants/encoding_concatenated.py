"""positional encoding concatenated, not added

Mistake: embed appends the encoding after the token's embedding along the features.
Symptom: embeddings of width 2 * d_model instead of d_model; it runs silently.
Fix: return embedding[tokens] + positional_encoding(seq, d_model): the width stays d_model.
"""

import numpy as np

from attention_conformance.mutants import complete


def embed(tokens, embedding):
    seq = tokens.shape[1]
    d_model = embedding.shape[1]
    pe = np.broadcast_to(positional_encoding(seq, d_model), (tokens.shape[0], seq, d_model))
    return np.concatenate([embedding[tokens], pe], axis=-1)  # BUG: (batch, seq, 2 * d_model)


complete(globals())
