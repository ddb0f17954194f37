"""The classic attention mistakes the suite can recognise, each with the fix a learner needs.

A check names a mistake only from evidence it has seen (a property that failed, an output
that matches what the mistake would compute), never from the implementation's name.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    title: str
    fix: str

    def explain(self, symptom):
        """The diagnosis line of a failure message."""
        return f"looks like: {self.title}: {symptom}\n  fix: {self.fix}"


CAUSAL_MASK_FORGOTTEN = Mistake(
    "causal mask forgotten",
    "add create_causal_mask(seq_len) to the scores before the softmax, so position i sees no j > i",
)
UNSCALED_SCORES = Mistake(
    "scores not scaled",
    "divide q @ k^T by sqrt(d_k), d_k being the last axis of q, before the softmax",
)
KEYS_NOT_TRANSPOSED = Mistake(
    "wrong transpose of the keys",
    "use q @ k.swapaxes(-1, -2): swap the last two axes of k, whatever its number of axes",
)
HEAD_SIZE_HARD_CODED = Mistake(
    "head dimension mismatch",
    "compute d_k = d_model // n_heads from the inputs instead of fixing it (64 is right only for 512 / 8)",
)
HEADS_AVERAGED = Mistake(
    "heads averaged, not concatenated",
    "put the heads side by side: transpose to (batch, seq, n_heads, d_k), reshape to (batch, seq, n_heads * d_k)",
)
ENCODING_CONCATENATED = Mistake(
    "positional encoding concatenated, not added",
    "return embedding[tokens] + positional_encoding(seq, d_model): the width stays d_model",
)
MASK_WRONG_SHAPE = Mistake(
    "mask of the wrong shape",
    "build the mask as (seq_len, seq_len), comparing key positions j (a row) with query positions i (a column)",
)
SOFTMAX_WRONG_AXIS = Mistake(
    "softmax over the wrong axis",
    "normalise the scores over the keys, their last axis (softmax(scores, axis=-1))",
)
MASK_AFTER_SOFTMAX = Mistake(
    "mask applied after softmax",
    "add the additive mask (0 / -inf) to the scores before the softmax; do not zero the weights afterwards",
)
CACHE_LOSES_HISTORY = Mistake(
    "KV cache loses history",
    "concatenate the new keys and values onto the cached ones along the sequence axis, and return them",
)
UNSTABLE_SOFTMAX = Mistake(
    "softmax not shifted by each row's own max",
    "subtract np.max(x, axis=axis, keepdims=True) before exp: exp(1000) overflows, a global max underflows other rows",
)
