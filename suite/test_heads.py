"""split_heads(x, n_heads) and merge_heads(x): the PyTorch packing, head h = features [h*d_k, (h+1)*d_k)."""

import numpy as np
import pytest

from attention_conformance.calls import Call
from attention_conformance.cases import Case, cases
from attention_conformance.checks import check

# (d_model, n_heads): 512 / 8 is where a hard-coded d_k = 64 is right; the others expose it
HEAD_SPLITS = [(512, 8), (128, 4), (64, 4), (12, 3), (8, 1)]


def split(id, seed, d_model, n_heads, shape=None):
    return Case(id, "split_heads", dict(seed=seed, shape=shape or (2, 3, d_model)), draw="features",
                given=dict(n_heads=n_heads))


def merge(id, seed, n_heads, d_k):
    return Case(id, "merge_heads", dict(seed=seed, shape=(2, n_heads, 3, d_k)), draw="features")


@pytest.mark.conformance("split_heads")
@cases(*(split(f"{d_model}-{n_heads}", 20, d_model, n_heads) for d_model, n_heads in HEAD_SPLITS))
def test_split_heads_gives_each_head_d_model_over_n_heads_features(impl, case):
    check(impl, Call.of(case, impl.dtype), "heads")


@pytest.mark.conformance("split_heads")
@cases(
    # feature f of position s holds 100 * s + f, so every value says where it came from
    Case("positions-and-features", "split_heads",
         given=dict(x=(100 * np.arange(3)[None, :, None] + np.arange(6)[None, None, :]).astype(np.float64), n_heads=2)),
)
def test_split_heads_puts_features_h_d_k_to_h_plus_1_d_k_in_head_h(impl, case):
    call = Call.of(case, impl.dtype)
    expected = [[[[0, 1, 2], [100, 101, 102], [200, 201, 202]], [[3, 4, 5], [103, 104, 105], [203, 204, 205]]]]
    check(impl, call, "heads", expected=expected)


@pytest.mark.conformance("merge_heads")
@cases(*(merge(f"{n_heads * d_k}-{n_heads}", 21, n_heads, d_k) for n_heads, d_k in ((8, 64), (4, 32), (4, 16), (3, 4), (1, 8))))
def test_merge_heads_puts_the_heads_side_by_side(impl, case):
    check(impl, Call.of(case, impl.dtype), "merged heads")
