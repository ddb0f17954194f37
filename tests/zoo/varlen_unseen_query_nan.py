"""packed attention that divides by nothing for a query that sees no key

Bug: varlen_attention in torch, sequence by sequence, with F.softmax over the masked scores: a
query that sees no key (causal with more queries than keys, or no key at all) has every score -inf,
and softmax gives NaN where the contract (and FlashAttention) gives 0.
Measured: the output is NaN for exactly the queries that see no key, right elsewhere.
"""

import numpy as np
import torch


def varlen_attention(q, k, v, cu_seqlens_q, cu_seqlens_k, causal=False, window=None):
    wide = lambda x: torch.from_numpy(np.asarray(x, dtype=np.float64))  # noqa: E731
    out = torch.zeros(q.shape[0], q.shape[1], v.shape[2], dtype=torch.float64)
    group = q.shape[1] // k.shape[1]
    for b in range(len(cu_seqlens_q) - 1):
        rows_q, rows_k = slice(cu_seqlens_q[b], cu_seqlens_q[b + 1]), slice(cu_seqlens_k[b], cu_seqlens_k[b + 1])
        q_b = wide(q[rows_q]).transpose(0, 1)
        k_b, v_b = (wide(x[rows_k]).transpose(0, 1).repeat_interleave(group, dim=0) for x in (k, v))
        scores = q_b @ k_b.transpose(-1, -2) / q.shape[2] ** 0.5
        n_q, n_k = scores.shape[-2:]
        if causal or window is not None:
            seen = torch.ones(n_q, n_k, dtype=torch.bool).tril(n_k - n_q)
            if window is not None:
                seen &= ~seen.tril(n_k - n_q - window)
            scores = scores.masked_fill(~seen, -torch.inf)
        out[rows_q] = (torch.softmax(scores, dim=-1) @ v_b).transpose(0, 1)  # BUG: NaN for a row of -inf
    return out.numpy().astype(q.dtype)
