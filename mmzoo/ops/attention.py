"""The one attention function every mmzoo module calls.

All attention in mmzoo (transformer encoders, attention-based fusions) goes through
:func:`attention`, so that one switch and one benchmark cover the whole zoo. Today it calls
``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask built from the key
padding mask; a fused kernel can be dispatched from here without touching any module.

Rows whose keys are all masked (a missing modality) give zeros, never NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["attention"]


def attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None = None,
    *,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """Scaled dot-product attention with a key padding mask.

    Inputs:
        query: ``(B, H, Tq, D)``; key, value: ``(B, H, Tk, D)``.
        key_padding_mask: bool ``(B, Tk)``, ``True`` at real keys; ``None`` when nothing is padded.
    Returns:
        ``(B, H, Tq, D)``; query rows that see no real key are zero.
    """
    if key_padding_mask is None:
        return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout_p, is_causal=is_causal)
    has_keys = key_padding_mask.any(dim=-1)  # (B,)
    # A row without any real key would softmax over nothing (NaN); let it attend everywhere and
    # zero its output afterwards.
    mask = key_padding_mask | ~has_keys.unsqueeze(-1)
    mask = mask[:, None, None, :]  # (B, 1, 1, Tk)
    if is_causal:
        causal = torch.ones(query.shape[-2], key.shape[-2], dtype=torch.bool, device=query.device).tril()
        mask = mask & causal
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
    return out * has_keys[:, None, None, None].to(out.dtype)
