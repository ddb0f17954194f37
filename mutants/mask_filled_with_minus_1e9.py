"""mask filled with -1e9, not -inf

Mistake: create_causal_mask fills the hidden entries with -1e9 instead of -inf.
Symptom: in float64 the weights come out right, but the mask is not the contract's; cast to
float16 -1e9 overflows (to -inf here, to an error in PyTorch's masked_fill), and added to
scores of the same order it no longer hides them.
Fix: fill with -np.inf (or the dtype's own lowest value, np.finfo(dtype).min, when a finite
one is needed).
Seen in: bentrevett/pytorch-seq2seq#191, huggingface/transformers#382
Measured: hidden keys filled with -1e+09, not -inf
"""

import numpy as np

from attention_conformance.mutants import complete


def create_causal_mask(seq_len):
    query = np.arange(seq_len)[:, None]
    key = np.arange(seq_len)
    return np.where(key > query, -1e9, 0.0)  # BUG: a finite fill, -1e9


complete(globals())
