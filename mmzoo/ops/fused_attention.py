"""Fused masked attention: a Triton FlashAttention-2 style kernel, forward and backward.

:func:`fused_attention` computes ``softmax(scale * Q K^T + mask) V`` without materialising the score
matrix or a dense mask. The mask is built inside the kernel from small integer vectors:

* ``key_lengths`` ``(B,)``: keys ``j >= key_lengths[b]`` are padding. Key blocks past the length are
  never loaded.
* ``query_lengths`` ``(B,)``: queries ``i >= query_lengths[b]`` output zeros. Query blocks past the
  length do no work.
* ``query_segments`` ``(B, Tq)`` and ``key_segments`` ``(B, Tk)`` (both or neither): query ``i`` may
  attend key ``j`` iff neither id is :data:`PADDING_SEGMENT` and the ids are equal or either is
  :data:`SHARED_SEGMENT`. Packed sequences use one id per sequence; tokens every sequence should see
  (and that see every sequence), such as a prompt or a fused modality summary, use ``0``.

A query row that may attend no key at all outputs exactly zero and receives (and passes on) zero
gradient; it never produces NaN.

The computation is registered as the custom ops ``mmzoo::fused_attention_forward`` (returning the
output and the fp32 log-sum-exp of each row) and ``mmzoo::fused_attention_backward``, with fake
implementations, so ``torch.compile`` traces through it without graph breaks.

The Triton kernels live in :mod:`mmzoo.ops._triton_attention` and are imported only when the op first
runs, so importing this module is cheap and works where Triton is missing or broken. Triton decides
when that module is imported whether its kernels are compiled for the GPU or run by the CPU
interpreter (``TRITON_INTERPRET=1``); :func:`fused_attention_unsupported` reports the mode that the
kernels were (or will be) built in.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from types import ModuleType
from typing import Optional

import torch
from torch import Tensor

__all__ = ["SHARED_SEGMENT", "PADDING_SEGMENT", "fused_attention", "fused_attention_unsupported"]

#: Tokens with this segment id attend to, and are attended by, every segment.
SHARED_SEGMENT: int = 0
#: A key with this segment id is never attended; a query with this id outputs zeros.
PADDING_SEGMENT: int = -1

SUPPORTED_DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16, torch.float32)
SUPPORTED_HEAD_DIMS: tuple[int, ...] = (16, 32, 64, 128)

_KERNELS_MODULE = "mmzoo.ops._triton_attention"


# --------------------------------------------------------------------------------------------------
# Availability
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _triton_import_error() -> str | None:
    """``None`` when triton imports, else why not (checked once per process)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return "triton is not installed"
    except Exception as error:  # a broken install can raise anything at import time
        return f"triton cannot be imported ({type(error).__name__}: {error})"
    return None


def _interpreting() -> bool:
    """Whether the kernels run (or, not yet imported, would run) in the Triton CPU interpreter.

    Triton reads ``TRITON_INTERPRET`` when a ``@triton.jit`` function is decorated, i.e. when the kernels
    module is imported. Once imported, the mode it recorded is the truth; before, the current setting
    (through ``triton.knobs`` where that exists) is what the import will see.
    """
    module = sys.modules.get(_KERNELS_MODULE)
    if module is not None:
        return bool(module.INTERPRETED)
    import triton

    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def fused_attention_unsupported(query: Tensor, key: Tensor, value: Tensor) -> str | None:
    """``None`` when the kernel can run on these tensors, else a short human-readable reason.

    Checks: triton importable; 4-D ``(B, H, T, D)`` tensors with matching batch, heads and head dim;
    one dtype among float16, bfloat16, float32; head dim 16, 32, 64 or 128; all on one CUDA device, or
    on CPU/CUDA when the kernels run in the Triton interpreter (``TRITON_INTERPRET=1``). Mask
    arguments are validated by :func:`fused_attention` itself.
    """
    error = _triton_import_error()
    if error is not None:
        return error
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        return "query, key and value must be 4-D (B, H, T, D)"
    if query.shape[0] != key.shape[0] or key.shape[0] != value.shape[0]:
        return "query, key and value have different batch sizes"
    if query.shape[1] != key.shape[1] or key.shape[1] != value.shape[1]:
        return "query and key have different numbers of heads"
    if key.shape[2] != value.shape[2]:
        return "key and value have different lengths"
    if query.dtype != key.dtype or key.dtype != value.dtype:
        return f"query, key and value have different dtypes ({query.dtype}, {key.dtype}, {value.dtype})"
    if query.dtype not in SUPPORTED_DTYPES:
        return f"dtype {query.dtype} is not supported (float16, bfloat16, float32)"
    head_dim = query.shape[-1]
    if key.shape[-1] != head_dim or value.shape[-1] != head_dim:
        return "query, key and value have different head dims"
    if head_dim not in SUPPORTED_HEAD_DIMS:
        return f"head dim {head_dim} is not supported (16, 32, 64, 128)"
    if query.device != key.device or key.device != value.device:
        return "query, key and value are on different devices"
    device = query.device.type
    if _interpreting():
        if device not in ("cpu", "cuda"):
            return f"tensors are on {device}; the Triton interpreter takes cpu or cuda tensors"
    elif device != "cuda":
        if device == "cpu":
            return "tensors are on cpu and TRITON_INTERPRET is not set"
        return f"tensors are on {device}, not cuda"
    return None


def _kernels() -> ModuleType:
    """The Triton kernels module, imported on first use."""
    return importlib.import_module(_KERNELS_MODULE)


# --------------------------------------------------------------------------------------------------
# Custom ops
# --------------------------------------------------------------------------------------------------
# The op signatures keep ``Optional[...]`` annotations: ``torch.library`` infers the schema from them.


@torch.library.custom_op("mmzoo::fused_attention_forward", mutates_args=())
def _forward_op(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_lengths: Optional[Tensor],
    query_lengths: Optional[Tensor],
    query_segments: Optional[Tensor],
    key_segments: Optional[Tensor],
    scale: float,
) -> tuple[Tensor, Tensor]:
    """Masked attention forward. Returns ``out`` contiguous ``(B, H, Tq, D)`` in the query's dtype and
    ``lse`` fp32 ``(B, H, Tq)``, the natural log-sum-exp of each row's allowed scaled scores (``-inf``
    for rows without keys)."""
    return _kernels().attention_forward(
        query, key, value, key_lengths, query_lengths, query_segments, key_segments, scale
    )


@_forward_op.register_fake
def _forward_fake(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_lengths: Optional[Tensor],
    query_lengths: Optional[Tensor],
    query_segments: Optional[Tensor],
    key_segments: Optional[Tensor],
    scale: float,
) -> tuple[Tensor, Tensor]:
    batch, heads, tq, head_dim = query.shape
    out = query.new_empty((batch, heads, tq, head_dim))
    lse = query.new_empty((batch, heads, tq), dtype=torch.float32)
    return out, lse


@torch.library.custom_op("mmzoo::fused_attention_backward", mutates_args=())
def _backward_op(
    grad_out: Tensor,
    grad_lse: Optional[Tensor],
    query: Tensor,
    key: Tensor,
    value: Tensor,
    out: Tensor,
    lse: Tensor,
    key_lengths: Optional[Tensor],
    query_lengths: Optional[Tensor],
    query_segments: Optional[Tensor],
    key_segments: Optional[Tensor],
    scale: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Masked attention backward. Returns contiguous ``dq`` ``(B, H, Tq, D)``, ``dk`` and ``dv``
    ``(B, H, Tk, D)``; ``grad_lse`` ``(B, H, Tq)`` may be ``None`` (the log-sum-exp was not used)."""
    return _kernels().attention_backward(
        grad_out,
        grad_lse,
        query,
        key,
        value,
        out,
        lse,
        key_lengths,
        query_lengths,
        query_segments,
        key_segments,
        scale,
    )


@_backward_op.register_fake
def _backward_fake(
    grad_out: Tensor,
    grad_lse: Optional[Tensor],
    query: Tensor,
    key: Tensor,
    value: Tensor,
    out: Tensor,
    lse: Tensor,
    key_lengths: Optional[Tensor],
    query_lengths: Optional[Tensor],
    query_segments: Optional[Tensor],
    key_segments: Optional[Tensor],
    scale: float,
) -> tuple[Tensor, Tensor, Tensor]:
    return query.new_empty(query.shape), key.new_empty(key.shape), value.new_empty(value.shape)


def _setup_context(ctx, inputs: tuple, output: tuple[Tensor, Tensor]) -> None:
    query, key, value, key_lengths, query_lengths, query_segments, key_segments, scale = inputs
    out, lse = output
    ctx.save_for_backward(query, key, value, out, lse, key_lengths, query_lengths, query_segments, key_segments)
    ctx.scale = scale
    # Leave unused output gradients as None (usually the log-sum-exp's) instead of zero tensors.
    ctx.set_materialize_grads(False)


def _backward(ctx, grad_out: Tensor | None, grad_lse: Tensor | None) -> tuple:
    query, key, value, out, lse, key_lengths, query_lengths, query_segments, key_segments = ctx.saved_tensors
    if grad_out is None:
        grad_out = torch.zeros_like(out)
    dq, dk, dv = _backward_op(
        grad_out,
        grad_lse,
        query,
        key,
        value,
        out,
        lse,
        key_lengths,
        query_lengths,
        query_segments,
        key_segments,
        ctx.scale,
    )
    return dq, dk, dv, None, None, None, None, None


_forward_op.register_autograd(_backward, setup_context=_setup_context)


# --------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------


def _check_mask_vector(name: str, tensor: Tensor, shape: tuple[int, ...], device: torch.device) -> None:
    if tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, got {tensor.dtype}")
    if tuple(tensor.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device} but query is on {device}")


def fused_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    key_lengths: Tensor | None = None,
    query_lengths: Tensor | None = None,
    query_segments: Tensor | None = None,
    key_segments: Tensor | None = None,
    scale: float | None = None,
) -> Tensor:
    """Masked scaled dot-product attention with a fused Triton kernel (differentiable).

    Inputs:
        query: ``(B, H, Tq, D)``; key, value: ``(B, H, Tk, D)``; any strides, one dtype (float16,
            bfloat16 or float32), ``D`` in 16, 32, 64, 128. ``Tq`` and ``Tk`` may differ.
        key_lengths: integer ``(B,)``; keys ``j >= key_lengths[b]`` are padding.
        query_lengths: integer ``(B,)``; queries ``i >= query_lengths[b]`` output zeros.
        query_segments, key_segments: integer ``(B, Tq)`` and ``(B, Tk)``, both or neither; see the
            module docstring for the rule (``0`` shared, ``-1`` padding).
        scale: softmax scale, default ``1 / sqrt(D)``.
    Returns:
        ``(B, H, Tq, D)`` contiguous, in the query's dtype; rows that may attend no key are zero.
    Raises:
        ValueError: inconsistent mask arguments, or tensors the kernel cannot take (the reason from
            :func:`fused_attention_unsupported`).
    """
    if (query_segments is None) != (key_segments is None):
        raise ValueError("query_segments and key_segments must be given together")
    if not torch.compiler.is_compiling():
        # Host-side environment checks (triton import, interpreter mode) are not traceable; under
        # torch.compile the op's own launch reports any problem.
        reason = fused_attention_unsupported(query, key, value)
        if reason is not None:
            raise ValueError(f"fused_attention cannot run: {reason}")
    batch, _, tq, head_dim = query.shape
    tk = key.shape[2]
    if key_lengths is not None:
        _check_mask_vector("key_lengths", key_lengths, (batch,), query.device)
    if query_lengths is not None:
        _check_mask_vector("query_lengths", query_lengths, (batch,), query.device)
    if query_segments is not None and key_segments is not None:
        _check_mask_vector("query_segments", query_segments, (batch, tq), query.device)
        _check_mask_vector("key_segments", key_segments, (batch, tk), query.device)
    if scale is None:
        scale = head_dim**-0.5
    out, _ = _forward_op(query, key, value, key_lengths, query_lengths, query_segments, key_segments, float(scale))
    return out
