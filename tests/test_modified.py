"""Contract v3, score modifiers: the reference's modified_attention against each modifier's
definition written out on small inputs, the formulas (the sink as a key of value zero) against the
reference at scale, and the declaration of the modifiers an implementation takes."""

import math

import numpy as np
import pytest

from attention_conformance import oracle
from attention_conformance.calls import Call
from attention_conformance.cases import Case, modified_inputs
from attention_conformance.declaration import Declaration
from attention_conformance.reference import modified_attention

SLOPES = np.array([0.5, 0.25, 0.7, 0.1])
SINKS = np.array([-2.0, 0.0, 1.0, 8.0])


def small():
    found = modified_inputs(130, "float64", 2, 4, 2, 3, 5, 6, 4, "causal")
    return found["q"], found["k"], found["v"], found["mask"]


def by_definition(q, k, v, mask, softcap=None, slopes=None, sinks=None):
    """One query, one head at a time, in the contract's words."""
    out = np.zeros(q.shape[:3] + v.shape[-1:])
    n_q, n_k = q.shape[2], k.shape[2]
    mask = np.broadcast_to(mask, (q.shape[0], 1, n_q, n_k))
    for b, h, i in np.ndindex(q.shape[:3]):
        kv = h // (q.shape[1] // k.shape[1])
        s = np.array([q[b, h, i] @ k[b, kv, j] / math.sqrt(q.shape[-1]) for j in range(n_k)])
        if softcap is not None:
            s = softcap * np.tanh(s / softcap)
        if slopes is not None:
            s = s - slopes[h] * np.abs(i + n_k - n_q - np.arange(n_k))
        s = s + mask[b, 0, i]
        denominator = np.exp(s).sum() + (0.0 if sinks is None else math.exp(sinks[h]))
        out[b, h, i] = (np.exp(s) / denominator) @ v[b, kv]
    return out


@pytest.mark.parametrize("modifiers", [{}, {"softcap": 0.8}, {"alibi_slopes": SLOPES}, {"sinks": SINKS},
                                       {"softcap": 0.8, "alibi_slopes": SLOPES, "sinks": SINKS}])
def test_the_reference_is_each_modifier_by_its_definition(modifiers):
    q, k, v, mask = small()
    want = by_definition(q, k, v, mask, modifiers.get("softcap"), modifiers.get("alibi_slopes"), modifiers.get("sinks"))
    assert np.abs(modified_attention(q, k, v, mask, **modifiers) - want).max() < 1e-12


def test_the_formulas_agree_with_the_reference_at_scale_and_a_sink_takes_a_blind_querys_weight():
    found = modified_inputs(131, "float64", 2, 6, 3, 40, 70, 16, 8, "unseen", "dominant")
    kwargs = {"softcap": 5.0, "alibi_slopes": np.linspace(0.1, 0.6, 6), "sinks": np.linspace(-1.0, 4.0, 6)}
    got = modified_attention(*found.values(), **kwargs)
    assert np.abs(got - oracle.EXACT.modified_attention(*found.values(), **kwargs)).max() < 1e-12
    assert (got[0] == 0).all()  # batch row 0 sees no key: the sink takes it all


def test_a_declaration_of_modifiers_rules_out_calls_with_others():
    declaration = Declaration.parse({"modifiers": ["sinks", "softcap"]})
    assert declaration.modifiers == ("softcap", "sinks") and "modifiers=[softcap, sinks]" in str(declaration)
    params = dict(seed=132, batch=1, n_heads=2, n_kv_heads=2, lq=2, lk=3, d_k=4, d_v=4)
    for kwargs, verdict in (({"sinks": np.zeros(2)}, None), ({}, None),
                            ({"alibi_slopes": np.ones(2)}, "modifiers=[softcap, sinks] does not include alibi_slopes")):
        call = Call.of(Case("m", "modified_attention", params, draw="modified_inputs", kwargs=kwargs), "float64")
        assert declaration.rules_out(call.limits(), "float64") == verdict
