"""F.scaled_dot_product_attention with one backend forced: flash, efficient, cudnn or math, each
declaring (CONFORMANCE) the limits PyTorch's dispatcher puts on that backend on a CUDA GPU.

    pytest --impl=attention_conformance.adapters.torch_sdpa:flash --impl-dtype=bfloat16 --impl-profile=kernel

Requires torch. $ATTENTION_TORCH_DEVICE chooses the device (torch_attention.DEVICE); the flash,
efficient and cudnn kernels run on CUDA (PyTorch's CPU build has a flash kernel of its own, which
takes the flash declaration too). Masks: a backend declared "causal" gets is_causal=True for the
causal mask, and torch.nn.attention.bias.causal_lower_right for a decoding chunk; any other mask
is refused with a ValueError, as the declaration says it would be. The backward callables come
from torch.autograd (torch_attention.derive), the backend forced around the backward pass as
well, so that it runs the backend's own backward kernel.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.bias import causal_lower_right

from attention_conformance.adapters.torch_attention import _heads, _merged, derive, to_numpy, to_torch

MULTIPLES_OF_8 = {"multiple_of": 8, "at_most": 256}  # a CONFORMANCE rule: 8, 16, ..., 256

# What PyTorch's dispatcher (aten/src/ATen/native/transformers/cuda/sdp_utils.cpp) lets each
# backend take: flash wants q, k, v of one head width, at most 256, a multiple of 8, and no mask
# but the causal one; memory-efficient widths a multiple of 8 and any additive mask (d_v equal
# to d_k declared, the safe side of its alignment rule); cuDNN half precision, widths up to 128.
DECLARATIONS = {
    "flash": {"head_dims": MULTIPLES_OF_8, "value_dim_equals_key_dim": True, "masks": "causal", "weights": False,
              "dtypes": ["float16", "bfloat16"]},
    "efficient": {"head_dims": MULTIPLES_OF_8, "value_dim_equals_key_dim": True, "masks": "additive",
                  "weights": False, "dtypes": ["float32", "float16", "bfloat16"]},
    "cudnn": {"head_dims": {"multiple_of": 8, "at_most": 128}, "value_dim_equals_key_dim": True, "masks": "causal",
              "weights": False, "dtypes": ["float16", "bfloat16"]},
    "math": {"weights": False},
}
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}


class ForcedBackend:
    """The contract's attention callables on F.scaled_dot_product_attention, one backend forced,
    and their backward callables (contract v3) through the same backend's backward kernel."""

    def __init__(self, backend, declaration):
        self.backend = BACKENDS[backend]
        self.CONFORMANCE = declaration
        self.causal_only = declaration.get("masks") == "causal"
        self.scaled_dot_product_attention, self.scaled_dot_product_attention_backward = self._derive(
            self._scaled_dot_product_attention, "scaled_dot_product_attention")
        self.multi_head_attention, self.multi_head_attention_backward = self._derive(
            self._multi_head_attention, "multi_head_attention")
        self.causal_self_attention, self.causal_self_attention_backward = self._derive(
            self._causal_self_attention, "causal_self_attention")

    def _derive(self, tensor_function, capability):
        """derive's numpy forward and backward, the backward's autograd pass under the forced backend too."""
        forward, backward = derive(tensor_function, capability)

        def forced_backward(*args, **kwargs):
            with sdpa_kernel(self.backend):
                return backward(*args, **kwargs)

        return forward, forced_backward

    def _attend(self, q, k, v, mask=None, is_causal=False):
        with sdpa_kernel(self.backend):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)

    def _mask(self, mask, lq, lk):
        """(attn_mask, is_causal) for the backend: the causal mask as is_causal where it must be."""
        if mask is None:
            return None, False
        causal = lq == lk and np.shape(mask)[-2:] == (lq, lk) and bool(
            (np.asarray(mask) == np.where(np.tri(lq, dtype=bool), 0.0, -np.inf)).all())
        if self.causal_only:
            if not causal:
                raise ValueError("this backend takes no mask but the causal one (CONFORMANCE masks='causal')")
            return None, True
        return to_torch(mask), False

    def _scaled_dot_product_attention(self, q, k, v, mask=None):
        """The leading axes broadcast and folded into one batch axis, inside the differentiated
        function, so that autograd sums a broadcast input's gradient back to its shape."""
        (lq, _), lk = q.shape[-2:], k.shape[-2]
        lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        attn_mask, is_causal = self._mask(mask, lq, lk)

        def four_d(tensor, last):  # (batch, 1 head, L, d): the layout the fused kernels take
            return tensor.broadcast_to(*lead, *last).reshape(-1, 1, *last)

        q, k, v = (four_d(tensor, tensor.shape[-2:]) for tensor in (q, k, v))
        if attn_mask is not None:
            attn_mask = four_d(attn_mask, (lq, lk))
        out = self._attend(q, k, v, attn_mask, is_causal)
        return out.reshape(*lead, *out.shape[-2:])

    def _layer(self, x, params, n_heads, mask=None, is_causal=False):
        q, k, v = (_heads(x, params[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        return _merged(self._attend(q, k, v, mask, is_causal), params["w_o"])

    def _multi_head_attention(self, x, params, n_heads, mask=None):
        attn_mask, is_causal = self._mask(mask, x.shape[1], x.shape[1])
        return self._layer(x, params, n_heads, attn_mask, is_causal)

    def _causal_self_attention(self, x, params, n_heads):
        return self._layer(x, params, n_heads, is_causal=True)

    def decode_chunk(self, x_new, params, n_heads, cache=None):
        x_new, w = to_torch(x_new), {name: to_torch(value) for name, value in params.items()}
        q, k, v = (_heads(x_new, w[name], n_heads) for name in ("w_q", "w_k", "w_v"))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        out = self._attend(q, k, v, causal_lower_right(q.shape[2], k.shape[2]))
        return to_numpy(_merged(out, w["w_o"])), (k, v)

    def decode_step(self, x_t, params, n_heads, cache=None):
        return self.decode_chunk(x_t, params, n_heads, cache)


flash = ForcedBackend("flash", DECLARATIONS["flash"])
efficient = ForcedBackend("efficient", DECLARATIONS["efficient"])
cudnn = ForcedBackend("cudnn", DECLARATIONS["cudnn"])
math = ForcedBackend("math", DECLARATIONS["math"])
