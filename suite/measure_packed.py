"""Measuring which key rows each packed query sees (varlen_attention), with one call of the
implementation: every query set to zero, so that the keys it sees weigh alike, and each key row's
value a unit vector of its own, so that the output of a query is the share of each key row in it.
The keys and values past the last sequence get unit vectors too, and no NaN: reading them shows.

Seen keys are compared with the contract's, sequence by sequence, and described: keys of another
sequence, rows past the pack, a causal mask aligned to the top left, a window one key off; or, for
a query that sees no key, NaN in place of 0. The description is a symptom, not a model: the
finding keeps the probe, on which a look-alike of the catalogue must hold too.
"""

import numpy as np

from attention_conformance.cases import visible
from attention_conformance.measure import (NOT_MASKED, ONLY_OWN, TURNED_OVER, Finding, deterministic, own_alone, probed,
                                           span, turned_over)

MOST_KEYS = 512  # the probe's values are total_k wide
TOP_LEFT = "the causal mask is aligned to the top left in each sequence (query i sees keys j <= i, not j <= i + Lk - Lq)"
ONE_AHEAD = "each query also sees the key after its own (the causal mask one key off)"
OWN_HIDDEN = "each query is hidden from its own key (the causal mask one key off)"


def findings(impl, call, observe, got):
    """The finding for a failing varlen_attention call ([] when none applies)."""
    named = call.named()
    total_k = len(named["k"])
    if total_k > MOST_KEYS or not deterministic(impl, call, observe, got):
        return []
    values = np.zeros((total_k, named["v"].shape[1], total_k))
    values[np.arange(total_k), :, np.arange(total_k)] = 1.0  # key row j's value: unit vector j, every head
    probe = probed(impl, call.replaced({**named, "q": np.zeros_like(named["q"]), "k": np.zeros_like(named["k"]),
                                        "v": values.astype(named["v"].dtype)}), observe)
    if probe is None:
        return []
    found = _described(probe.seen, probe.expected, named)
    return [Finding("packed visibility", data, lines, titles, (probe.kept(),), why="which key rows each packed "
                    "query's output draws on, queries set to zero", whole=False) for data, lines, titles in found]


def _described(weights, wanted, named):
    """[(data, lines, titles)]: what differs between the key rows the queries draw on (weights,
    (queries, heads, total_k)) and the contract's (wanted); [] when nothing does, or heads differ."""
    unseen = ~(wanted > 0).any(axis=-1)  # (queries, heads): the contract's queries that see no key
    nan = np.isnan(weights).any(axis=-1)
    if nan.any():
        if (nan == unseen).all():
            count = int(unseen.any(axis=-1).sum())
            return [({"queries": count}, (f"evidence: the output is NaN for exactly the {count} queries that see no key "
                                          "(0 with zero queries too)",), ("a query that sees no key gets NaN",))]
        return []
    seen = weights > 0.25 / weights.shape[-1]  # a seen key weighs 1/n, n <= total_k: far above rounding
    if not (seen == seen[:, :1]).all() or (seen == (wanted > 0)).all():
        return []  # heads that see differently, or keys seen right: the mistake is elsewhere
    seen, wanted = seen[:, 0], wanted[:, 0] > 0
    cu_q, cu_k = (np.asarray(named[name]) for name in ("cu_seqlens_q", "cu_seqlens_k"))
    own = np.zeros_like(seen)
    for b in range(len(cu_q) - 1):
        own[cu_q[b] : cu_q[b + 1], cu_k[b] : cu_k[b + 1]] = True
    past = seen[:, cu_k[-1] :].any()
    other = (seen & ~own)[:, : cu_k[-1]].any()
    titles = []
    if past:
        titles.append("reads key rows past the last sequence (cu_seqlens_k[-1])")
    if other:
        titles.append(_other_sequences(seen, own, cu_q, cu_k))
    if not past and not other:
        titles.extend(_within(seen, wanted, cu_q, cu_k, named))
    r = int(np.flatnonzero((seen != wanted).any(axis=-1))[0])
    b = int(np.searchsorted(cu_q, r, side="right") - 1)
    data = {"query": r, "sees": span(np.flatnonzero(seen[r])), "expected_sees": span(np.flatnonzero(wanted[r]))}
    line = (f"evidence: query row {r} (sequence {b}) draws on key rows {data['sees']}; the contract lets it see "
            f"{data['expected_sees']} ({int((seen != wanted).any(axis=-1).sum())} of {len(seen)} packed queries differ; "
            "measured with queries set to zero and one-hot values)")
    return [(data, (line,), tuple(titles))]  # several: what tells them apart is another check's (the summary)


def _other_sequences(seen, own, cu_q, cu_k):
    """Words for queries that see keys of other sequences."""
    foreign = seen & ~own
    firsts = np.zeros_like(foreign)
    for b in range(len(cu_q) - 2):  # the first key of the next sequence, for sequence b's queries
        if cu_k[b + 1] < cu_k[-1]:
            firsts[cu_q[b] : cu_q[b + 1], cu_k[b + 1]] = True
    if (foreign <= firsts).all():
        return "each sequence also sees the first key of the next (its end read one past)"
    if seen[: cu_q[-1], : cu_k[-1]].all() or (foreign.sum(axis=-1) > 1).mean() > 0.5:
        return "the sequences of the pack see each other (cu_seqlens not applied)"
    return "queries see keys of other sequences"


def _within(seen, wanted, cu_q, cu_k, named):
    """The description that fits every sequence whose own keys are seen wrong (top-left causal, a
    window one key off), or none."""
    causal = named.get("causal") or named.get("window") is not None
    blocks = [(seen[cu_q[b] : cu_q[b + 1], cu_k[b] : cu_k[b + 1]], wanted[cu_q[b] : cu_q[b + 1], cu_k[b] : cu_k[b + 1]])
              for b in range(len(cu_q) - 1)]
    return sequences_words(blocks, causal, named.get("window"))


def sequences_words(blocks, causal, window):
    """The descriptions that fit every sequence whose queries see their own keys wrong, from its
    (seen, wanted) blocks (queries, keys; the queries the last positions): the causal mask aligned
    to the top left, one key off, turned over or not applied, a window one key off."""
    fits = None
    for block, wanted in blocks:
        n_q, n_k = block.shape
        if n_q == 0 or n_k == 0 or (block == wanted).all():
            continue
        here = set()
        if causal:
            end = n_k - n_q  # where the last query sits: the mask's diagonal
            # a diagonal moved moves the window's far edge with it, or leaves it (a window built as
            # the difference of two triangles, one of them moved)
            for offset, width, words in ((0, window, TOP_LEFT), (end + 1, window, ONE_AHEAD), (end - 1, window, OWN_HIDDEN),
                                         (end + 1, window and window + 1, ONE_AHEAD), (end - 1, window and window - 1, OWN_HIDDEN)):
                if (block == visible(n_q, n_k, offset, width)).all():
                    here.add(words)
            if turned_over(block, wanted, end):
                here.add(TURNED_OVER)
            if own_alone(block, wanted, end):
                here.add(ONLY_OWN)
            if _unmasked(block, wanted):
                here.add(NOT_MASKED)
        for wider in (1, -1):
            if window and window + wider > 0 and (block == visible(n_q, n_k, n_k - n_q, window + wider)).all():
                here.add(f"a sliding window one key {'wider' if wider > 0 else 'narrower'} than the contract's")
        fits = here if fits is None else fits & here
    return sorted(fits or ())


def _unmasked(block, wanted):
    """Whether each query the contract lets see a key sees every key of its sequence, not all of them
    should; a query that sees none may still be given none (its output zeroed apart from the mask)."""
    seeing = wanted.any(axis=-1)
    unseeing = block[~seeing]
    return bool(block[seeing].all() and not wanted[seeing].all() and (unseeing.all(axis=-1) | ~unseeing.any(axis=-1)).all())
