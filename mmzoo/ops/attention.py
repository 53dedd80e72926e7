"""The one attention function every mmzoo module calls.

All attention in mmzoo (transformer encoders, attention-based fusions) goes through
:func:`attention`, so that one switch and one benchmark cover the whole zoo. It runs one of two
backends:

- ``sdpa``: ``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask built from the
  key padding mask (and the segment ids, when given);
- ``fused``: mmzoo's Triton kernel (:mod:`mmzoo.ops.fused_attention`), which computes the same
  masks inside the kernel from per-row lengths and segment ids, and skips key blocks past the last
  real key.

The backend is ``auto`` by default: the fused kernel when it supports the tensors (CUDA, float16,
bfloat16 or float32, head dim 16/32/64/128, no dropout, not causal), SDPA otherwise. A recipe
forces one with ``model.attention: sdpa | fused`` (see :func:`attention_backend`); forcing
``fused`` where the kernel cannot run is an error, not a silent fallback.

Rows whose keys are all masked (a missing modality) give zeros, never NaN, with either backend.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from mmzoo.ops.fused_attention import PADDING_SEGMENT, SHARED_SEGMENT, fused_attention, fused_attention_unsupported

__all__ = [
    "attention",
    "attention_backend",
    "check_heads",
    "current_attention_backend",
    "segment_mask",
    "BACKENDS",
    "SHARED_SEGMENT",
]

#: Accepted values of ``model.attention``.
BACKENDS: tuple[str, ...] = ("auto", "sdpa", "fused")

_backend = "auto"


def check_heads(dim: int, heads: int) -> int:
    """``heads`` itself, after checking that ``dim`` splits evenly into that many heads.

    Raises:
        ValueError: ``dim`` is not a multiple of ``heads``.
    """
    if dim % heads:
        raise ValueError(f"dim ({dim}) must be a multiple of heads ({heads})")
    return heads


@contextlib.contextmanager
def attention_backend(name: str) -> Iterator[None]:
    """Use backend ``name`` (``auto``, ``sdpa`` or ``fused``) for the attention calls in this block.

    ``MultimodalModule`` wraps its forward pass in this with the recipe's ``model.attention``.
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"attention backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    previous, _backend = _backend, name
    try:
        yield
    finally:
        _backend = previous


def current_attention_backend() -> str:
    """The backend :func:`attention` uses now: ``auto``, ``sdpa`` or ``fused``."""
    return _backend


def _fused_unsupported(query: Tensor, key: Tensor, value: Tensor, dropout_p: float, is_causal: bool) -> str | None:
    if dropout_p > 0.0:
        return "the fused kernel has no attention dropout (set the model's dropout to 0)"
    if is_causal:
        return "the fused kernel has no causal mask"
    return fused_attention_unsupported(query, key, value)


def _use_fused(query: Tensor, key: Tensor, value: Tensor, dropout_p: float, is_causal: bool) -> bool:
    if _backend == "sdpa":
        return False
    if _backend == "auto":
        # The kernel is a GPU kernel; on other devices SDPA is the right choice without asking.
        return query.is_cuda and _fused_unsupported(query, key, value, dropout_p, is_causal) is None
    reason = _fused_unsupported(query, key, value, dropout_p, is_causal)
    if reason is not None:
        raise RuntimeError(f"model.attention is 'fused' but the kernel cannot run here: {reason}")
    return True


def _last_real_plus_one(mask: Tensor) -> Tensor:
    """``(B, T)`` bool -> ``(B,)`` int32: one past the last ``True`` (0 for an empty row).

    An upper bound on the real keys that needs no host synchronisation; the segment ids carry the
    exact mask, the bound lets the kernel skip key blocks past it.
    """
    positions = torch.arange(1, mask.shape[-1] + 1, device=mask.device, dtype=torch.int32)
    return (mask.to(torch.int32) * positions).amax(dim=-1)


def _fused(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    query_padding_mask: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
) -> Tensor:
    batch, tq, tk = query.shape[0], query.shape[-2], key.shape[-2]
    if query_segments is None and (key_padding_mask is not None or query_padding_mask is not None):
        # Padding travels as segment ids (-1): exact for any mask, prefix or not.
        query_segments = query.new_full((batch, tq), SHARED_SEGMENT, dtype=torch.int32)
        key_segments = query.new_full((batch, tk), SHARED_SEGMENT, dtype=torch.int32)
    key_lengths = query_lengths = None
    if key_padding_mask is not None:
        key_lengths = _last_real_plus_one(key_padding_mask)
        key_segments = torch.where(key_padding_mask, key_segments, PADDING_SEGMENT)
    if query_padding_mask is not None:
        query_lengths = _last_real_plus_one(query_padding_mask)
        query_segments = torch.where(query_padding_mask, query_segments, PADDING_SEGMENT)
    return fused_attention(
        query,
        key,
        value,
        key_lengths=key_lengths,
        query_lengths=query_lengths,
        query_segments=None if query_segments is None else query_segments.to(torch.int32),
        key_segments=None if key_segments is None else key_segments.to(torch.int32),
    )


def segment_mask(query_segments: Tensor, key_segments: Tensor) -> Tensor:
    """Which keys each query may see under segment ids: same segment, or either one shared.

    Inputs:
        query_segments: integer ``(B, Tq)``; key_segments: integer ``(B, Tk)``.
    Returns:
        bool ``(B, Tq, Tk)``.
    """
    q = query_segments.unsqueeze(-1)
    k = key_segments.unsqueeze(-2)
    return (q == k) | (q == SHARED_SEGMENT) | (k == SHARED_SEGMENT)


def _sdpa(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
    dropout_p: float,
    is_causal: bool,
) -> Tensor:
    if key_padding_mask is None and query_segments is None:
        return F.scaled_dot_product_attention(query, key, value, dropout_p=dropout_p, is_causal=is_causal)
    batch, tq, tk = query.shape[0], query.shape[-2], key.shape[-2]
    if query_segments is None and not is_causal:
        mask = key_padding_mask[:, None, :]  # (B, 1, Tk): one row shared by all queries, never (B, Tq, Tk)
    else:
        mask = torch.ones(batch, tq, tk, dtype=torch.bool, device=query.device)
        if key_padding_mask is not None:
            mask = mask & key_padding_mask[:, None, :]
        if query_segments is not None and key_segments is not None:
            mask = mask & segment_mask(query_segments, key_segments)
        if is_causal:
            mask = mask & torch.ones(tq, tk, dtype=torch.bool, device=query.device).tril()
    has_keys = mask.any(dim=-1)  # (B, 1 or Tq)
    # A query that sees no key would softmax over nothing (NaN); let it attend everywhere and zero
    # its output afterwards.
    mask = mask | ~has_keys.unsqueeze(-1)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask[:, None], dropout_p=dropout_p)
    return out * has_keys[:, None, :, None].to(out.dtype)


def _zero_padded_queries(out: Tensor, query_padding_mask: Tensor | None) -> Tensor:
    if query_padding_mask is None:
        return out
    return out * query_padding_mask[:, None, :, None].to(out.dtype)


def attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None = None,
    *,
    query_padding_mask: Tensor | None = None,
    query_segments: Tensor | None = None,
    key_segments: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
) -> Tensor:
    """Scaled dot-product attention with a key padding mask and optional segment ids.

    Inputs:
        query: ``(B, H, Tq, D)``; key, value: ``(B, H, Tk, D)``.
        key_padding_mask: bool ``(B, Tk)``, ``True`` at real keys; ``None`` when nothing is padded.
        query_padding_mask: bool ``(B, Tq)``, ``True`` at real queries: padded queries output zeros
            (the fused kernel skips their blocks); ``None`` computes every query.
        query_segments, key_segments: integer ``(B, Tq)`` and ``(B, Tk)``, or both ``None``. A query
            sees a key when they share a segment id or either id is :data:`SHARED_SEGMENT` (0): for
            modality blocks with shared tokens, as in bottleneck fusion.
    Returns:
        ``(B, H, Tq, D)`` in the dtype of ``query``; padded queries and query rows that see no
        real key are zero.
    """
    if (query_segments is None) != (key_segments is None):
        raise ValueError("give both query_segments and key_segments, or neither")
    if _use_fused(query, key, value, dropout_p, is_causal):
        return _fused(query, key, value, key_padding_mask, query_padding_mask, query_segments, key_segments)
    out = _sdpa(query, key, value, key_padding_mask, query_segments, key_segments, dropout_p, is_causal)
    return _zero_padded_queries(out, query_padding_mask)
