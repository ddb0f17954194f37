"""packed sequences attend to each other

Mistake: varlen_attention attends over the whole pack at once, ignoring cu_seqlens (a plain
attention call on the packed tensors), so a sequence's queries also see every other sequence's keys.
Symptom: right for a pack of one sequence; with several, each output mixes in the other
sequences' values (the quality loss reported for batches of more than one).
Fix: attend sequence by sequence (or with a block-diagonal mask): the queries
q[cu_q[b]:cu_q[b + 1]] see the keys k[cu_k[b]:cu_k[b + 1]] only.
Seen in: Tencent-Hunyuan/HunyuanVideo#310
"""

import numpy as np

from attention_conformance.mutants import complete


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    group = q.shape[1] // k.shape[1]
    queries, keys = slice(0, cu_seqlens_q[-1]), slice(0, cu_seqlens_k[-1])  # BUG: one sequence, the whole pack
    out = np.zeros(q.shape[:2] + v.shape[2:], dtype=np.result_type(q, v))
    heads_q = q[queries].transpose(1, 0, 2)
    heads_k, heads_v = (np.repeat(x[keys].transpose(1, 0, 2), group, axis=0) for x in (k, v))
    mask = packed_mask(queries.stop, keys.stop, causal, window)
    seen, _ = attention_with_lse(heads_q, heads_k, heads_v, mask)
    out[queries] = seen.transpose(1, 0, 2)
    return out


complete(globals())
