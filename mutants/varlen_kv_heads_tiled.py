"""packed key/value heads repeated in the tiled order

Mistake: varlen_attention gives query head h the key/value head h % n_kv_heads (np.tile)
instead of h // (n_heads // n_kv_heads).
Symptom: right when n_kv_heads is 1 or n_heads; otherwise query heads meet another group's keys.
Fix: np.repeat each key/value head over its group of consecutive query heads.
Seen in: onnx/onnx#7274
"""

import numpy as np

from attention_conformance.mutants import complete


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    group = q.shape[1] // k.shape[1]
    out = np.zeros(q.shape[:2] + v.shape[2:], dtype=np.result_type(q, v))
    for b in range(len(cu_seqlens_q) - 1):
        queries = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1])
        keys = slice(cu_seqlens_k[b], cu_seqlens_k[b + 1])
        n_q, n_k = queries.stop - queries.start, keys.stop - keys.start
        if n_q == 0 or n_k == 0:
            continue
        heads_q = q[queries].transpose(1, 0, 2)
        heads_k, heads_v = (np.tile(x[keys].transpose(1, 0, 2), (group, 1, 1)) for x in (k, v))  # BUG: h % n_kv
        seen, _ = attention_with_lse(heads_q, heads_k, heads_v, packed_mask(n_q, n_k, causal, window))
        out[queries] = seen.transpose(1, 0, 2)
    return out


complete(globals())
