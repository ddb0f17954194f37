"""packed keys loaded in whole tiles past the pack's end

Mistake: varlen_attention loads each sequence's keys and values in whole tiles of 16 rows, as a
kernel does, and hides the rows past the sequence by position (-inf scores, weight 0); at the
last sequence those rows lie past cu_seqlens_k[-1], memory the contract says is never read.
Symptom: right while that memory holds numbers; where it holds NaN (a freed or uninitialised
buffer) 0 * NaN = NaN, and the last sequence's outputs are NaN (FlashAttention 3 does this).
Fix: never load past cu_seqlens_k[-1]: clamp the tile, or zero the rows it loads past the end.
Seen in: facebookresearch/xformers#1072
"""

import numpy as np

from attention_conformance.mutants import complete


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    group = q.shape[1] // k.shape[1]
    out = np.zeros(q.shape[:2] + v.shape[2:], dtype=np.result_type(q, v))
    for b in range(len(cu_seqlens_q) - 1):
        queries = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1])
        n_q, n_k = queries.stop - queries.start, cu_seqlens_k[b + 1] - cu_seqlens_k[b]
        if n_q == 0 or n_k == 0:
            continue
        loaded = -(-n_k // 16) * 16  # whole tiles of 16 rows
        keys = slice(cu_seqlens_k[b], cu_seqlens_k[b] + loaded)  # BUG: whole tiles, past the pack's end
        heads_q = q[queries].transpose(1, 0, 2)
        heads_k, heads_v = (np.repeat(x[keys].transpose(1, 0, 2), group, axis=0) for x in (k, v))
        mask = np.full((n_q, heads_k.shape[1]), -np.inf)
        mask[:, :n_k] = 0.0 if not causal and window is None else packed_mask(n_q, n_k, causal, window)
        seen, _ = attention_with_lse(heads_q, heads_k, heads_v, mask)  # rows past n_k weigh 0: 0 * NaN
        out[queries] = seen.transpose(1, 0, 2)
    return out


complete(globals())
