"""decode_step(x_t, params, n_heads, cache=None): one position at a time, with a key/value cache."""

import pytest

from attention_conformance import definitions
from attention_conformance.calls import Call
from attention_conformance.cases import draw
from attention_conformance.checks import as_array, expect_close, expect_shape, fail
from attention_conformance.mistakes import CACHE_LOSES_HISTORY

pytestmark = pytest.mark.conformance("decode_step")


def decode(impl, x, params, n_heads, seed):
    """Feed x one position at a time: yields (t, call, y_t as an array)."""
    cache = None
    for t in range(x.shape[1]):
        call = Call("decode_step", x[:, t : t + 1], params, n_heads, cache, seed=seed)
        result = call.run(impl)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            fail(call, f"step {t} returns (y_t, cache)", [f"got {type(result).__name__}"])
        y_t, cache = result
        y_t = as_array(y_t, call, f"output of step {t}")
        expect_shape(y_t, (x.shape[0], 1, x.shape[2]), call, f"output of step {t}")
        yield t, call, y_t


@pytest.mark.parametrize("batch, seq, d_model, n_heads", [(2, 5, 8, 2), (1, 4, 12, 3)])
def test_decode_step_matches_the_full_causal_forward(impl, dtype, tol, batch, seq, d_model, n_heads):
    x, params = draw(50, dtype, (batch, seq, d_model), d_model=d_model)
    full = definitions.causal_self_attention(x, params, n_heads)
    for t, call, y_t in decode(impl, x, params, n_heads, seed=50):

        def alikes(t=t):
            alone = definitions.multi_head_attention(x[:, t : t + 1], params, n_heads)
            return [(CACHE_LOSES_HISTORY, f"step {t} attended to its own position only", alone)]

        expect_close(y_t, full[:, t : t + 1], call, f"step {t} vs position {t} of the full causal forward", tol, alikes)
