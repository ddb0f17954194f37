"""packed keys read one past the sequence

Mistake: varlen_attention takes sequence b's keys as k[cu_k[b] : cu_k[b + 1] + 1], an inclusive
end where cu_seqlens holds exclusive ones, so each sequence also sees the first key of the next.
Symptom: right for the last sequence; every other one mixes in a key of its neighbour (and the
last query of a causal sequence attends to it).
Fix: sequence b's keys are the rows cu_k[b] up to, not including, cu_k[b + 1].
"""

import numpy as np

from attention_conformance.mutants import complete


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    group = q.shape[1] // k.shape[1]
    out = np.zeros(q.shape[:2] + v.shape[2:], dtype=np.result_type(q, v))
    for b in range(len(cu_seqlens_q) - 1):
        queries = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1])
        end = min(cu_seqlens_k[b + 1] + 1, cu_seqlens_k[-1])  # BUG: one key past the sequence's end
        keys = slice(cu_seqlens_k[b], end)
        n_q, n_k = queries.stop - queries.start, keys.stop - keys.start
        if n_q == 0 or n_k == 0:
            continue
        heads_q = q[queries].transpose(1, 0, 2)
        heads_k, heads_v = (np.repeat(x[keys].transpose(1, 0, 2), group, axis=0) for x in (k, v))
        seen, _ = attention_with_lse(heads_q, heads_k, heads_v, packed_mask(n_q, n_k, causal, window))
        out[queries] = seen.transpose(1, 0, 2)
    return out


complete(globals())
