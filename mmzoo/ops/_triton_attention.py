"""Triton kernels behind :func:`mmzoo.ops.fused_attention.fused_attention`.

This module is imported lazily, the first time the op runs: importing it builds the ``@triton.jit``
functions, and Triton decides *at decoration time* (from ``TRITON_INTERPRET``, read through
``triton.knobs.runtime.interpret``) whether they run compiled on a GPU or in the CPU interpreter.
:data:`INTERPRETED` records the mode this import got; changing the variable afterwards has no effect
until the module is reloaded.

Algorithm (FlashAttention-2 style, one program per block of rows):

* Forward. A program owns ``BLOCK_M`` queries of one (batch, head) and streams the keys in blocks of
  ``BLOCK_N``. It keeps, per query row, the running maximum ``m`` of the scores seen so far, the running
  sum ``l`` of ``exp(score - m)`` and an unnormalised output accumulator. When a new block raises the
  maximum, the old sum and accumulator are rescaled by ``exp(m_old - m_new)`` (the "online softmax"),
  so the full ``Tq x Tk`` score matrix never exists in memory. At the end the accumulator is divided by
  ``l`` and the row's log-sum-exp ``m + log(l)`` is stored: the backward pass uses it to recompute the
  normalised probabilities ``P = exp(S - lse)`` block by block without another max/sum pass.
* Backward. ``dS = P * (dP - delta)`` with ``dP = dO V^T`` and ``delta = rowsum(dO * O)`` (minus the
  incoming gradient of the log-sum-exp, which enters the same way). ``delta`` is computed once by a
  small preprocessing kernel. Then two independent kernels recompute ``P``: one program per key block
  accumulates ``dK`` and ``dV`` over the query blocks, one program per query block accumulates ``dQ``
  over the key blocks. Every output element is owned by exactly one program, so there are no atomics
  and the result is deterministic.

Masking is computed in the kernels from small integer vectors (lengths ``(B,)`` and segment ids
``(B, T)``), never from a dense mask. Scores of disallowed pairs are ``-inf`` in the forward pass and
probabilities of disallowed pairs are forced to exactly zero in the backward pass. A query row that is
allowed no key at all keeps ``l == 0``: its output is written as zeros and its log-sum-exp as ``-inf``,
and since every one of its probabilities is masked to zero in the backward pass it contributes nothing
to any gradient and never produces NaN.

Block skipping: key loops stop at the key length, query loops stop at the query length, and a program
whose own block lies wholly past its length runs an empty loop and writes zeros. With segment ids, each
block is summarised by the range of its own-segment ids and whether it holds a shared token; a pair of
blocks that cannot meet (no shared token on either side that the other can see, disjoint id ranges)
skips its products. For packed sequences (sorted ids) this removes most off-diagonal blocks.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from mmzoo.ops._attention_configs import INTERPRETER_CONFIG, LaunchConfig, launch_config

__all__ = [
    "INTERPRETED",
    "KernelLaunch",
    "attention_backward",
    "attention_forward",
    "backward_launches",
    "forward_launch",
]


def _interpret_mode() -> bool:
    knobs = getattr(triton, "knobs", None)  # triton >= 3.4; older releases read the variable directly
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


#: Whether the kernels below were built for the Triton CPU interpreter (``TRITON_INTERPRET=1`` at import).
INTERPRETED: bool = _interpret_mode()

_LOG2E = math.log2(math.e)


# --------------------------------------------------------------------------------------------------
# Shared device helpers
# --------------------------------------------------------------------------------------------------


# The kernels use only Triton builtins and the helpers below, never the ``@triton.jit`` functions of
# ``triton.language.standard`` (``tl.zeros``, ``tl.sum``, ``tl.max``, ...): those were decorated when
# triton itself was imported, possibly in the other interpreter mode than this module, and the
# interpreter refuses to call compiled-mode functions. Reductions go through ``tl.reduce`` instead.


@triton.jit
def _add_combine(a, b):
    return a + b


@triton.jit
def _max_combine(a, b):
    return tl.maximum(a, b)


@triton.jit
def _min_combine(a, b):
    return tl.minimum(a, b)


@triton.jit
def _segment_span(seg, valid):
    """Summary of one block's segment ids, for skipping block pairs that cannot attend each other.

    Returns ``(lo, hi, shared, any)``: the smallest and largest own-segment id (not shared, not padding)
    among the block's valid positions (``lo > hi`` when there is none), whether a shared token is among
    them, and whether any position can take part at all.
    """
    seg = seg.to(tl.int64)
    own = valid & (seg != 0) & (seg != -1)
    lo = tl.reduce(tl.where(own, seg, 9223372036854775807), 0, _min_combine)
    hi = tl.reduce(tl.where(own, seg, -9223372036854775807), 0, _max_combine)
    shared = tl.reduce((valid & (seg == 0)).to(tl.int32), 0, _max_combine) > 0
    return lo, hi, shared, shared | (lo <= hi)


@triton.jit
def _spans_meet(q_lo, q_hi, q_shared, q_any, k_lo, k_hi, k_shared, k_any):
    """Whether some query of one block may attend some key of another, judged from their spans.

    A shared token on either side meets any participating token on the other; otherwise the own-segment
    id ranges must overlap. Overlapping ranges do not prove a common id, so this only ever errs towards
    computing a block; blocks it rejects are all-masked and skipping them changes nothing.
    """
    return (q_shared & k_any) | (k_shared & q_any) | ((q_lo <= k_hi) & (k_lo <= q_hi))


@triton.jit
def _mm(a, b, PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """``a @ b`` accumulated in fp32. ``UPCAST`` multiplies in fp32 instead: only for bfloat16 under the
    interpreter, whose ``tl.dot`` reads bfloat16 storage as integers (the products are exact either way)."""
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision="ieee")
    return tl.dot(a, b, input_precision=PRECISION)


@triton.jit
def _valid_length(Lengths, stride_len, b, limit, HAS_LEN: tl.constexpr):
    """Number of real positions of batch row ``b``: ``clamp(lengths[b], 0, limit)``, or ``limit``."""
    if HAS_LEN:
        n = tl.load(Lengths + b * stride_len)
        n = tl.minimum(tl.maximum(n, 0), limit).to(tl.int32)  # clamp before narrowing int64 lengths
    else:
        n = limit + 0
    return n


@triton.jit
def _allowed(q_idx, q_hi, q_seg, k_idx, k_hi, k_seg, HAS_SEG: tl.constexpr):
    """Boolean "query may attend key" for broadcastable index/segment tiles.

    The same helper serves the ``(M, N)`` orientation (``q_idx[:, None]``, ``k_idx[None, :]``) and the
    transposed ``(N, M)`` one used by the dK/dV kernel. Segment rule: a ``-1`` on either side forbids the
    pair; otherwise equal segments, or a ``0`` (shared) on either side, allow it.
    """
    ok = (q_idx < q_hi) & (k_idx < k_hi)
    if HAS_SEG:
        same = (q_seg == k_seg) | (q_seg == 0) | (k_seg == 0)
        ok = ok & same & (q_seg != -1) & (k_seg != -1)
    return ok


# --------------------------------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------------------------------
# Without segment ids only the last key block of a row can hold padded keys, so the key loops run in
# two parts: the blocks wholly inside the key length with no mask at all (``MASKED=False``), then the
# one block that straddles the length with the mask. Query rows past the query length need no mask in
# the loops either: the forward pass zeroes them when it writes, and the backward kernels load them as
# zeros, which makes their contributions exactly zero. With segment ids every block is masked.


@triton.jit
def _fwd_step(
    q, k, v, ok, m_i, l_i, acc, qk_scale,
    MASKED: tl.constexpr, PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """One online-softmax step over a key block: returns the updated ``(m_i, l_i, acc)``."""
    s = _mm(q, tl.trans(k), PRECISION, UPCAST_DOT) * qk_scale
    if MASKED:
        s = tl.where(ok, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.reduce(s, 1, _max_combine))
    if MASKED:
        # A row that has seen no allowed key keeps m == -inf; subtracting a finite stand-in keeps
        # exp2(-inf - (-inf)) = NaN out, and every term of such a row stays exactly 0.
        m_ref = tl.where(m_new == float("-inf"), 0.0, m_new)
    else:
        m_ref = m_new  # every score of the block is finite
    alpha = tl.exp2(m_i - m_ref)  # rescales what was accumulated under the old maximum
    p = tl.exp2(s - m_ref[:, None])
    l_i = l_i * alpha + tl.reduce(p, 1, _add_combine)
    acc = acc * alpha[:, None] + _mm(p.to(v.dtype), v, PRECISION, UPCAST_DOT)
    return m_new, l_i, acc


@triton.jit
def _fwd_loop(
    q, q_seg, q_span, offs_m, q_hi, k_hi, cols,
    k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
    start, end, m_i, l_i, acc, qk_scale,
    BLOCK_N: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr, MASKED: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """The forward steps over key blocks ``start, start + BLOCK_N, ... < end``.

    The key-side pointers point at block ``start`` on entry. Returns ``(m_i, l_i, acc, k_blk, v_blk,
    ks_blk)`` with the pointers advanced past the last block.
    """
    for start_n in range(start, end, BLOCK_N):
        if MASKED:
            offs_n = start_n + cols
            col_in = offs_n < k_hi
            k = tl.load(k_blk + k_offs, mask=col_in[:, None], other=0.0)
            v = tl.load(v_blk + v_offs, mask=col_in[:, None], other=0.0)
            if HAS_SEG:
                k_seg = tl.load(ks_blk + cols * stride_ksn, mask=col_in, other=-1)
            else:
                k_seg = offs_n  # unused
            ok = _allowed(offs_m[:, None], q_hi, q_seg[:, None], offs_n[None, :], k_hi, k_seg[None, :], HAS_SEG)
            if SKIP_BLOCKS:
                k_lo, k_top, k_shared, k_any = _segment_span(k_seg, col_in)
                if _spans_meet(q_span[0], q_span[1], q_span[2], q_span[3], k_lo, k_top, k_shared, k_any):
                    m_i, l_i, acc = _fwd_step(q, k, v, ok, m_i, l_i, acc, qk_scale, True, PRECISION, UPCAST_DOT)
            else:
                m_i, l_i, acc = _fwd_step(q, k, v, ok, m_i, l_i, acc, qk_scale, True, PRECISION, UPCAST_DOT)
        else:
            k = tl.load(k_blk + k_offs)
            v = tl.load(v_blk + v_offs)
            m_i, l_i, acc = _fwd_step(q, k, v, None, m_i, l_i, acc, qk_scale, False, PRECISION, UPCAST_DOT)
        k_blk += BLOCK_N * stride_kn
        v_blk += BLOCK_N * stride_vn
        ks_blk += BLOCK_N * stride_ksn
    return m_i, l_i, acc, k_blk, v_blk, ks_blk


@triton.jit
def _fwd_kernel(
    Q, K, V, Out, Lse,
    QSeg, KSeg, QLen, KLen,
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_ob, stride_oh, stride_om, stride_od,
    stride_lb, stride_lh, stride_lm,
    stride_qsb, stride_qsm, stride_ksb, stride_ksn,
    stride_qlen, stride_klen,
    H, Tq, Tk,
    qk_scale,  # softmax scale * log2(e): scores live in the base-2 domain so exp2 can be used
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_QLEN: tl.constexpr, HAS_KLEN: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    # A 1-D grid: consecutive programs share one (batch, head), so its K/V tiles are reused from L2.
    n_m_blocks = (Tq + BLOCK_M - 1) // BLOCK_M
    pid = tl.program_id(0)
    pid_m = pid % n_m_blocks
    pid_bh = pid // n_m_blocks
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)

    q_hi = _valid_length(QLen, stride_qlen, b, Tq, HAS_QLEN)
    k_hi = _valid_length(KLen, stride_klen, b, Tk, HAS_KLEN)
    start_m = pid_m * BLOCK_M
    # A query block wholly past the query length runs no key iteration and writes zeros.
    k_end = tl.where(start_m < q_hi, k_hi, 0)

    # Addressing: 64-bit offsets to the (batch, head) slice and to this block's first row, small 32-bit
    # offsets within a tile; the key-side pointers advance by one block per iteration.
    rows = tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_m = start_m + rows
    row_in = offs_m < Tq
    m64 = start_m.to(tl.int64)

    q = tl.load(
        Q + b * stride_qb + h * stride_qh + m64 * stride_qm + rows[:, None] * stride_qm + offs_d[None, :] * stride_qd,
        mask=row_in[:, None],
        other=0.0,
    )
    q_span = (0, 0, False, False)  # unused without block skipping
    if HAS_SEG:
        q_seg = tl.load(QSeg + b * stride_qsb + m64 * stride_qsm + rows * stride_qsm, mask=row_in, other=-1)
        if SKIP_BLOCKS:
            q_span = _segment_span(q_seg, offs_m < q_hi)
    else:
        q_seg = offs_m  # unused
    # Loop-invariant 32-bit offsets within a key block; only the scalar block pointers advance.
    k_offs = cols[:, None] * stride_kn + offs_d[None, :] * stride_kd
    v_offs = cols[:, None] * stride_vn + offs_d[None, :] * stride_vd
    k_blk = K + b * stride_kb + h * stride_kh
    v_blk = V + b * stride_vb + h * stride_vh
    ks_blk = KSeg + b * stride_ksb

    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)  # running row maximum (base-2 scores)
    l_i = tl.full((BLOCK_M,), 0.0, tl.float32)  # running sum of exp2(score - m_i)
    acc = tl.full((BLOCK_M, HEAD_DIM), 0.0, tl.float32)  # running unnormalised output

    if HAS_SEG:
        k_full = k_end * 0
    else:
        k_full = tl.minimum(k_end, (k_hi // BLOCK_N) * BLOCK_N)
        m_i, l_i, acc, k_blk, v_blk, ks_blk = _fwd_loop(
            q, q_seg, q_span, offs_m, q_hi, k_hi, cols,
            k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
            0, k_full, m_i, l_i, acc, qk_scale,
            BLOCK_N, HAS_SEG, SKIP_BLOCKS, False, PRECISION, UPCAST_DOT,
        )  # fmt: skip
    m_i, l_i, acc, k_blk, v_blk, ks_blk = _fwd_loop(
        q, q_seg, q_span, offs_m, q_hi, k_hi, cols,
        k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
        k_full, k_end, m_i, l_i, acc, qk_scale,
        BLOCK_N, HAS_SEG, SKIP_BLOCKS, True, PRECISION, UPCAST_DOT,
    )  # fmt: skip

    # Rows past the query length, and rows with no allowed key (l == 0, acc == 0), are written as zeros.
    has_keys = (l_i > 0.0) & (offs_m < q_hi)
    safe_l = tl.where(has_keys, l_i, 1.0)
    out = tl.where(has_keys[:, None], acc / safe_l[:, None], 0.0)
    # Natural-log log-sum-exp of the scaled scores (-inf for rows without keys).
    lse = tl.where(has_keys, (m_i + tl.log2(safe_l)) * 0.6931471805599453, float("-inf"))

    tl.store(
        Out + b * stride_ob + h * stride_oh + m64 * stride_om + rows[:, None] * stride_om + offs_d[None, :] * stride_od,
        out.to(Out.dtype.element_ty),
        mask=row_in[:, None],
    )
    tl.store(Lse + b * stride_lb + h * stride_lh + m64 * stride_lm + rows * stride_lm, lse, mask=row_in)


# --------------------------------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------------------------------


@triton.jit
def _bwd_delta_kernel(
    Out, DOut, DLse, Delta,
    stride_ob, stride_oh, stride_om, stride_od,
    stride_dob, stride_doh, stride_dom, stride_dod,
    stride_dlb, stride_dlh, stride_dlm,
    H, Tq,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, HAS_DLSE: tl.constexpr,
):  # fmt: skip
    """``delta = rowsum(dO * O) - dLse`` in fp32, written contiguous ``(B, H, Tq)``."""
    n_m_blocks = (Tq + BLOCK_M - 1) // BLOCK_M
    pid = tl.program_id(0)
    pid_m = pid % n_m_blocks
    pid_bh = pid // n_m_blocks
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    row_in = offs_m < Tq
    o = tl.load(
        Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od,
        mask=row_in[:, None],
        other=0.0,
    ).to(tl.float32)
    do = tl.load(
        DOut + b * stride_dob + h * stride_doh + offs_m[:, None] * stride_dom + offs_d[None, :] * stride_dod,
        mask=row_in[:, None],
        other=0.0,
    ).to(tl.float32)
    delta = tl.reduce(o * do, 1, _add_combine)
    if HAS_DLSE:
        delta -= tl.load(DLse + b * stride_dlb + h * stride_dlh + offs_m * stride_dlm, mask=row_in, other=0.0).to(
            tl.float32
        )
    tl.store(Delta + pid_bh.to(tl.int64) * Tq + offs_m, delta, mask=row_in)


@triton.jit
def _lse_base2(lse):
    """Stored natural-log log-sum-exp to the base-2 domain of the kernels' scores.

    Rows without keys stored ``-inf``; every probability of such a row is masked to zero anyway (or, for
    a row past the query length, multiplies a zero gradient), so any finite value does, and it keeps
    ``exp2`` from overflowing to ``inf`` in the discarded lanes.
    """
    return tl.where(lse == float("-inf"), 0.0, lse * 1.4426950408889634)


@triton.jit
def _dkdv_step(
    q, k, v, do, ok_t, lse2, delta, dk, dv, qk_scale,
    MASKED: tl.constexpr, PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """Adds one query block's contribution to the ``(N, D)`` accumulators; returns ``(dk, dv)``."""
    # P^T recomputed from the stored log-sum-exp; disallowed pairs are exactly zero.
    s_t = _mm(k, tl.trans(q), PRECISION, UPCAST_DOT) * qk_scale
    p_t = tl.exp2(s_t - lse2[None, :])
    if MASKED:
        p_t = tl.where(ok_t, p_t, 0.0)
    dv += _mm(p_t.to(do.dtype), do, PRECISION, UPCAST_DOT)
    dp_t = _mm(v, tl.trans(do), PRECISION, UPCAST_DOT)
    ds_t = p_t * (dp_t - delta[None, :])  # dS = P * (dP - delta), transposed
    dk += _mm(ds_t.to(q.dtype), q, PRECISION, UPCAST_DOT)
    return dk, dv


@triton.jit
def _dkdv_loop(
    k, v, k_seg, k_span, offs_n, k_hi, q_hi, rows,
    q_blk, do_blk, lse_blk, delta_blk, qs_blk, q_offs, do_offs, stride_qm, stride_dom, stride_lm, stride_qsm,
    end, dk, dv, qk_scale,
    BLOCK_M: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr, MASKED: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """The dK/dV steps over query blocks ``0, BLOCK_M, ... < end``; returns ``(dk, dv)``."""
    for start_m in range(0, end, BLOCK_M):
        offs_m = start_m + rows
        row_in = offs_m < q_hi
        q = tl.load(q_blk + q_offs, mask=row_in[:, None], other=0.0)
        do = tl.load(do_blk + do_offs, mask=row_in[:, None], other=0.0)
        lse2 = _lse_base2(tl.load(lse_blk + rows * stride_lm, mask=row_in, other=0.0))
        delta = tl.load(delta_blk + rows, mask=row_in, other=0.0)
        if MASKED:
            if HAS_SEG:
                q_seg = tl.load(qs_blk + rows * stride_qsm, mask=row_in, other=-1)
            else:
                q_seg = offs_m  # unused
            ok_t = _allowed(offs_m[None, :], q_hi, q_seg[None, :], offs_n[:, None], k_hi, k_seg[:, None], HAS_SEG)
            if SKIP_BLOCKS:
                q_lo, q_top, q_shared, q_any = _segment_span(q_seg, row_in)
                if _spans_meet(q_lo, q_top, q_shared, q_any, k_span[0], k_span[1], k_span[2], k_span[3]):
                    dk, dv = _dkdv_step(q, k, v, do, ok_t, lse2, delta, dk, dv, qk_scale, True, PRECISION, UPCAST_DOT)
            else:
                dk, dv = _dkdv_step(q, k, v, do, ok_t, lse2, delta, dk, dv, qk_scale, True, PRECISION, UPCAST_DOT)
        else:
            dk, dv = _dkdv_step(q, k, v, do, None, lse2, delta, dk, dv, qk_scale, False, PRECISION, UPCAST_DOT)

        q_blk += BLOCK_M * stride_qm
        do_blk += BLOCK_M * stride_dom
        lse_blk += BLOCK_M * stride_lm
        delta_blk += BLOCK_M
        qs_blk += BLOCK_M * stride_qsm
    return dk, dv


@triton.jit
def _bwd_dkdv_kernel(
    Q, K, V, DOut, Lse, Delta, DK, DV,
    QSeg, KSeg, QLen, KLen,
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_dob, stride_doh, stride_dom, stride_dod,
    stride_lb, stride_lh, stride_lm,
    stride_dkb, stride_dkh, stride_dkn, stride_dkd,
    stride_dvb, stride_dvh, stride_dvn, stride_dvd,
    stride_qsb, stride_qsm, stride_ksb, stride_ksn,
    stride_qlen, stride_klen,
    H, Tq, Tk,
    qk_scale, sm_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_QLEN: tl.constexpr, HAS_KLEN: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """One program per key block: ``dV = P^T dO`` and ``dK = scale * dS^T Q`` summed over query blocks.

    Works in the transposed ``(N, M)`` orientation (keys along rows) so that both accumulating products
    take the recomputed fp32 tile directly as their left operand; only the loaded low-precision Q and dO
    tiles are transposed.
    """
    n_n_blocks = (Tk + BLOCK_N - 1) // BLOCK_N
    pid = tl.program_id(0)
    pid_n = pid % n_n_blocks
    pid_bh = pid // n_n_blocks
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)

    q_hi = _valid_length(QLen, stride_qlen, b, Tq, HAS_QLEN)
    k_hi = _valid_length(KLen, stride_klen, b, Tk, HAS_KLEN)
    start_n = pid_n * BLOCK_N
    # A key block wholly past the key length runs no query iteration and writes zero dK/dV.
    q_end = tl.where(start_n < k_hi, q_hi, 0)

    rows = tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_n = start_n + cols
    col_in = offs_n < k_hi
    n64 = start_n.to(tl.int64)
    k = tl.load(
        K + b * stride_kb + h * stride_kh + n64 * stride_kn + cols[:, None] * stride_kn + offs_d[None, :] * stride_kd,
        mask=col_in[:, None],
        other=0.0,
    )
    v = tl.load(
        V + b * stride_vb + h * stride_vh + n64 * stride_vn + cols[:, None] * stride_vn + offs_d[None, :] * stride_vd,
        mask=col_in[:, None],
        other=0.0,
    )
    k_span = (0, 0, False, False)  # unused without block skipping
    if HAS_SEG:
        k_seg = tl.load(KSeg + b * stride_ksb + n64 * stride_ksn + cols * stride_ksn, mask=col_in, other=-1)
        if SKIP_BLOCKS:
            k_span = _segment_span(k_seg, col_in)
    else:
        k_seg = offs_n  # unused
    # Loop-invariant 32-bit offsets within a query block; only the scalar block pointers advance.
    q_offs = rows[:, None] * stride_qm + offs_d[None, :] * stride_qd
    do_offs = rows[:, None] * stride_dom + offs_d[None, :] * stride_dod
    q_blk = Q + b * stride_qb + h * stride_qh
    do_blk = DOut + b * stride_dob + h * stride_doh
    lse_blk = Lse + b * stride_lb + h * stride_lh
    delta_blk = Delta + pid_bh.to(tl.int64) * Tq
    qs_blk = QSeg + b * stride_qsb

    dk = tl.full((BLOCK_N, HEAD_DIM), 0.0, tl.float32)
    dv = tl.full((BLOCK_N, HEAD_DIM), 0.0, tl.float32)
    if HAS_SEG:
        dk, dv = _dkdv_loop(
            k, v, k_seg, k_span, offs_n, k_hi, q_hi, rows,
            q_blk, do_blk, lse_blk, delta_blk, qs_blk, q_offs, do_offs, stride_qm, stride_dom, stride_lm, stride_qsm,
            q_end, dk, dv, qk_scale,
            BLOCK_M, HAS_SEG, SKIP_BLOCKS, True, PRECISION, UPCAST_DOT,
        )  # fmt: skip
    elif start_n + BLOCK_N <= k_hi:  # every key of the block is real: nothing to mask
        dk, dv = _dkdv_loop(
            k, v, k_seg, k_span, offs_n, k_hi, q_hi, rows,
            q_blk, do_blk, lse_blk, delta_blk, qs_blk, q_offs, do_offs, stride_qm, stride_dom, stride_lm, stride_qsm,
            q_end, dk, dv, qk_scale,
            BLOCK_M, HAS_SEG, SKIP_BLOCKS, False, PRECISION, UPCAST_DOT,
        )  # fmt: skip
    else:
        dk, dv = _dkdv_loop(
            k, v, k_seg, k_span, offs_n, k_hi, q_hi, rows,
            q_blk, do_blk, lse_blk, delta_blk, qs_blk, q_offs, do_offs, stride_qm, stride_dom, stride_lm, stride_qsm,
            q_end, dk, dv, qk_scale,
            BLOCK_M, HAS_SEG, SKIP_BLOCKS, True, PRECISION, UPCAST_DOT,
        )  # fmt: skip

    dk *= sm_scale
    out_in = offs_n < Tk
    tl.store(
        DK
        + b * stride_dkb
        + h * stride_dkh
        + n64 * stride_dkn
        + cols[:, None] * stride_dkn
        + offs_d[None, :] * stride_dkd,
        dk.to(DK.dtype.element_ty),
        mask=out_in[:, None],
    )
    tl.store(
        DV
        + b * stride_dvb
        + h * stride_dvh
        + n64 * stride_dvn
        + cols[:, None] * stride_dvn
        + offs_d[None, :] * stride_dvd,
        dv.to(DV.dtype.element_ty),
        mask=out_in[:, None],
    )


@triton.jit
def _dq_step(
    q, k, v, do, ok, lse2, delta, dq, qk_scale,
    MASKED: tl.constexpr, PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """Adds one key block's contribution to the ``(M, D)`` dQ accumulator (before the final scale)."""
    s = _mm(q, tl.trans(k), PRECISION, UPCAST_DOT) * qk_scale
    p = tl.exp2(s - lse2[:, None])
    if MASKED:
        p = tl.where(ok, p, 0.0)
    dp = _mm(do, tl.trans(v), PRECISION, UPCAST_DOT)
    ds = p * (dp - delta[:, None])  # dS = P * (dP - delta)
    dq += _mm(ds.to(k.dtype), k, PRECISION, UPCAST_DOT)
    return dq


@triton.jit
def _dq_loop(
    q, do, lse2, delta, q_seg, q_span, offs_m, q_hi, k_hi, cols,
    k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
    start, end, dq, qk_scale,
    BLOCK_N: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr, MASKED: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """The dQ steps over key blocks ``start, start + BLOCK_N, ... < end`` (pointers as :func:`_fwd_loop`).

    Returns ``(dq, k_blk, v_blk, ks_blk)``.
    """
    for start_n in range(start, end, BLOCK_N):
        if MASKED:
            offs_n = start_n + cols
            col_in = offs_n < k_hi
            k = tl.load(k_blk + k_offs, mask=col_in[:, None], other=0.0)
            v = tl.load(v_blk + v_offs, mask=col_in[:, None], other=0.0)
            if HAS_SEG:
                k_seg = tl.load(ks_blk + cols * stride_ksn, mask=col_in, other=-1)
            else:
                k_seg = offs_n  # unused
            ok = _allowed(offs_m[:, None], q_hi, q_seg[:, None], offs_n[None, :], k_hi, k_seg[None, :], HAS_SEG)
            if SKIP_BLOCKS:
                k_lo, k_top, k_shared, k_any = _segment_span(k_seg, col_in)
                if _spans_meet(q_span[0], q_span[1], q_span[2], q_span[3], k_lo, k_top, k_shared, k_any):
                    dq = _dq_step(q, k, v, do, ok, lse2, delta, dq, qk_scale, True, PRECISION, UPCAST_DOT)
            else:
                dq = _dq_step(q, k, v, do, ok, lse2, delta, dq, qk_scale, True, PRECISION, UPCAST_DOT)
        else:
            k = tl.load(k_blk + k_offs)
            v = tl.load(v_blk + v_offs)
            dq = _dq_step(q, k, v, do, None, lse2, delta, dq, qk_scale, False, PRECISION, UPCAST_DOT)
        k_blk += BLOCK_N * stride_kn
        v_blk += BLOCK_N * stride_vn
        ks_blk += BLOCK_N * stride_ksn
    return dq, k_blk, v_blk, ks_blk


@triton.jit
def _bwd_dq_kernel(
    Q, K, V, DOut, Lse, Delta, DQ,
    QSeg, KSeg, QLen, KLen,
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    stride_dob, stride_doh, stride_dom, stride_dod,
    stride_lb, stride_lh, stride_lm,
    stride_dqb, stride_dqh, stride_dqm, stride_dqd,
    stride_qsb, stride_qsm, stride_ksb, stride_ksn,
    stride_qlen, stride_klen,
    H, Tq, Tk,
    qk_scale, sm_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_QLEN: tl.constexpr, HAS_KLEN: tl.constexpr, HAS_SEG: tl.constexpr, SKIP_BLOCKS: tl.constexpr,
    PRECISION: tl.constexpr, UPCAST_DOT: tl.constexpr,
):  # fmt: skip
    """One program per query block: ``dQ = scale * dS K`` summed over key blocks up to the key length."""
    n_m_blocks = (Tq + BLOCK_M - 1) // BLOCK_M
    pid = tl.program_id(0)
    pid_m = pid % n_m_blocks
    pid_bh = pid // n_m_blocks
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)

    q_hi = _valid_length(QLen, stride_qlen, b, Tq, HAS_QLEN)
    k_hi = _valid_length(KLen, stride_klen, b, Tk, HAS_KLEN)
    start_m = pid_m * BLOCK_M
    k_end = tl.where(start_m < q_hi, k_hi, 0)  # query block past the length: zero dQ, no key iteration

    rows = tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    offs_m = start_m + rows
    row_in = offs_m < q_hi
    m64 = start_m.to(tl.int64)
    q = tl.load(
        Q + b * stride_qb + h * stride_qh + m64 * stride_qm + rows[:, None] * stride_qm + offs_d[None, :] * stride_qd,
        mask=row_in[:, None],
        other=0.0,
    )
    do = tl.load(
        DOut
        + b * stride_dob
        + h * stride_doh
        + m64 * stride_dom
        + rows[:, None] * stride_dom
        + offs_d[None, :] * stride_dod,
        mask=row_in[:, None],
        other=0.0,
    )
    lse2 = _lse_base2(
        tl.load(Lse + b * stride_lb + h * stride_lh + m64 * stride_lm + rows * stride_lm, mask=row_in, other=0.0)
    )
    delta = tl.load(Delta + pid_bh.to(tl.int64) * Tq + offs_m, mask=row_in, other=0.0)
    q_span = (0, 0, False, False)  # unused without block skipping
    if HAS_SEG:
        q_seg = tl.load(QSeg + b * stride_qsb + m64 * stride_qsm + rows * stride_qsm, mask=row_in, other=-1)
        if SKIP_BLOCKS:
            q_span = _segment_span(q_seg, row_in)
    else:
        q_seg = offs_m  # unused
    # Loop-invariant 32-bit offsets within a key block; only the scalar block pointers advance.
    k_offs = cols[:, None] * stride_kn + offs_d[None, :] * stride_kd
    v_offs = cols[:, None] * stride_vn + offs_d[None, :] * stride_vd
    k_blk = K + b * stride_kb + h * stride_kh
    v_blk = V + b * stride_vb + h * stride_vh
    ks_blk = KSeg + b * stride_ksb

    dq = tl.full((BLOCK_M, HEAD_DIM), 0.0, tl.float32)
    if HAS_SEG:
        k_full = k_end * 0
    else:
        k_full = tl.minimum(k_end, (k_hi // BLOCK_N) * BLOCK_N)
        dq, k_blk, v_blk, ks_blk = _dq_loop(
            q, do, lse2, delta, q_seg, q_span, offs_m, q_hi, k_hi, cols,
            k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
            0, k_full, dq, qk_scale,
            BLOCK_N, HAS_SEG, SKIP_BLOCKS, False, PRECISION, UPCAST_DOT,
        )  # fmt: skip
    dq, k_blk, v_blk, ks_blk = _dq_loop(
        q, do, lse2, delta, q_seg, q_span, offs_m, q_hi, k_hi, cols,
        k_blk, v_blk, ks_blk, k_offs, v_offs, stride_kn, stride_vn, stride_ksn,
        k_full, k_end, dq, qk_scale,
        BLOCK_N, HAS_SEG, SKIP_BLOCKS, True, PRECISION, UPCAST_DOT,
    )  # fmt: skip

    dq *= sm_scale
    tl.store(
        DQ
        + b * stride_dqb
        + h * stride_dqh
        + m64 * stride_dqm
        + rows[:, None] * stride_dqm
        + offs_d[None, :] * stride_dqd,
        dq.to(DQ.dtype.element_ty),
        mask=(offs_m < Tq)[:, None],
    )


# --------------------------------------------------------------------------------------------------
# Launches
# --------------------------------------------------------------------------------------------------


@dataclass
class KernelLaunch:
    """Everything one kernel launch needs except its launch configuration.

    The grid is one program per tile of ``tiled`` positions (``Tq`` for the forward and dQ kernels,
    ``Tk`` for dK/dV) per (batch, head); the tile is the config's ``BLOCK_M`` or ``BLOCK_N``, named by
    ``tile``. :meth:`run` launches with a given :class:`LaunchConfig`; ``benchmarks/attention_tune.py``
    hands :attr:`args`, :attr:`constexprs` and :meth:`grid` to ``triton.autotune`` instead.
    """

    name: str  # "forward", "dkdv", "dq" or "delta"
    kernel: Any  # a @triton.jit function
    args: tuple[Any, ...]
    constexprs: dict[str, Any]
    tiled: int
    tile: str
    programs: int  # batch * heads
    config: LaunchConfig

    def grid(self, meta: dict[str, Any]) -> tuple[int]:
        return (triton.cdiv(self.tiled, meta[self.tile]) * self.programs,)

    def tiles(self, config: LaunchConfig) -> dict[str, int]:
        """The tile-size arguments of ``config`` that this kernel declares (the delta kernel has no BLOCK_N;
        a compiled Triton kernel rejects keyword arguments it does not declare)."""
        sizes = {"BLOCK_M": config.block_m, "BLOCK_N": config.block_n}
        return {name: size for name, size in sizes.items() if name in self.kernel.arg_names}

    def run(self, config: LaunchConfig | None = None) -> None:
        """Launch with ``config`` (default: the one chosen for these inputs)."""
        config = config or self.config
        self.kernel[self.grid](
            *self.args,
            **self.constexprs,
            **self.tiles(config),
            num_warps=config.num_warps,
            num_stages=config.num_stages,
        )


_DELTA_CONFIG = LaunchConfig(block_m=64, block_n=64, num_warps=4, num_stages=1)  # BLOCK_N unused


def _skip_blocks(dtype: torch.dtype) -> bool:
    """Whether segment-based block skipping is compiled in (it only applies when segments are given).

    Skipping puts a branch around the products, which costs registers; fp32 tiles are already at the
    limit on the GPU and spill badly with it, so fp32 only masks. The interpreter always skips so that the
    tests exercise the logic.
    """
    return INTERPRETED or dtype != torch.float32


def _mask_args(
    query: Tensor,
    key_lengths: Tensor | None,
    query_lengths: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
) -> tuple[list[object], dict[str, bool]]:
    """Pointers and strides of the optional mask vectors (a dummy pointer where absent) and the flags."""
    dummy = query
    q_seg = query_segments if query_segments is not None else dummy
    k_seg = key_segments if key_segments is not None else dummy
    q_len = query_lengths if query_lengths is not None else dummy
    k_len = key_lengths if key_lengths is not None else dummy
    seg_strides = (
        [query_segments.stride(0), query_segments.stride(1), key_segments.stride(0), key_segments.stride(1)]
        if query_segments is not None and key_segments is not None
        else [0, 0, 0, 0]
    )
    len_strides = [
        query_lengths.stride(0) if query_lengths is not None else 0,
        key_lengths.stride(0) if key_lengths is not None else 0,
    ]
    has_segments = query_segments is not None and key_segments is not None
    flags = {
        "HAS_QLEN": query_lengths is not None,
        "HAS_KLEN": key_lengths is not None,
        "HAS_SEG": has_segments,
        "SKIP_BLOCKS": has_segments and _skip_blocks(query.dtype),
    }
    return [q_seg, k_seg, q_len, k_len, *seg_strides, *len_strides], flags


def _precision(dtype: torch.dtype) -> str:
    """``tl.dot`` precision. 16-bit inputs multiply natively (the setting is ignored for them). fp32 inputs
    must track an fp32 reference, so plain TF32 (10-bit mantissa) is out; "tf32x3" splits each operand
    into a high and a low TF32 part and sums three tensor-core products, which is within a few ulp of
    fp32. Plain "ieee" would be exact but runs on CUDA cores and, in Triton's FMA lowering, needs every
    thread to hold whole rows of both operands: it spills heavily from head dim 64 on. The interpreter
    multiplies in fp32 whatever this says."""
    return "tf32x3" if dtype == torch.float32 else "tf32"


def _upcast_dot(dtype: torch.dtype) -> bool:
    return INTERPRETED and dtype == torch.bfloat16


def _config(kernel: str, query: Tensor, key: Tensor, flags: dict[str, bool]) -> LaunchConfig:
    return launch_config(
        kernel,
        query.shape[-1],
        query.dtype,
        segments=flags["HAS_SEG"],
        skip_blocks=flags["SKIP_BLOCKS"],
        seq_len=max(query.shape[2], key.shape[2]),
        device=query.device,
        interpreted=INTERPRETED,
    )


def forward_launch(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_lengths: Tensor | None,
    query_lengths: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor, KernelLaunch]:
    """The outputs ``(out, lse)`` (allocated, not yet written) and the launch that writes them.

    Inputs as for :func:`attention_forward`; the tensors must be non-empty.
    """
    batch, heads, tq, head_dim = query.shape
    tk = key.shape[2]
    out = torch.empty((batch, heads, tq, head_dim), dtype=query.dtype, device=query.device)
    lse = torch.empty((batch, heads, tq), dtype=torch.float32, device=query.device)
    mask_args, flags = _mask_args(query, key_lengths, query_lengths, query_segments, key_segments)
    q_seg, k_seg, q_len, k_len, *mask_strides = mask_args
    args = (
        query, key, value, out, lse,
        q_seg, k_seg, q_len, k_len,
        *query.stride(), *key.stride(), *value.stride(), *out.stride(), *lse.stride(),
        *mask_strides,
        heads, tq, tk,
        scale * _LOG2E,
    )  # fmt: skip
    constexprs = dict(
        HEAD_DIM=head_dim, PRECISION=_precision(query.dtype), UPCAST_DOT=_upcast_dot(query.dtype), **flags
    )
    config = _config("forward", query, key, flags)
    return out, lse, KernelLaunch("forward", _fwd_kernel, args, constexprs, tq, "BLOCK_M", batch * heads, config)


def attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_lengths: Tensor | None,
    query_lengths: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """Launch the forward kernel.

    Inputs: query ``(B, H, Tq, D)``; key, value ``(B, H, Tk, D)`` (any strides); lengths ``(B,)``;
    segments ``(B, Tq)`` / ``(B, Tk)``. Returns ``out`` contiguous ``(B, H, Tq, D)`` in the query's
    dtype and the natural-log ``lse`` fp32 ``(B, H, Tq)`` (``-inf`` on rows without keys).
    """
    batch, heads, tq, head_dim = query.shape
    if batch * heads * tq * head_dim == 0:
        out = torch.empty((batch, heads, tq, head_dim), dtype=query.dtype, device=query.device)
        lse = torch.full((batch, heads, tq), float("-inf"), dtype=torch.float32, device=query.device)
        return out, lse
    out, lse, launch = forward_launch(
        query, key, value, key_lengths, query_lengths, query_segments, key_segments, scale
    )
    launch.run()
    return out, lse


def backward_launches(
    grad_out: Tensor,
    grad_lse: Tensor | None,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    out: Tensor,
    lse: Tensor,
    key_lengths: Tensor | None,
    query_lengths: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor, Tensor, tuple[KernelLaunch, KernelLaunch, KernelLaunch]]:
    """The gradients ``(dq, dk, dv)`` (allocated, not yet written) and the launches that write them,
    in the order they must run: ``delta``, ``dkdv``, ``dq``.

    Inputs as for :func:`attention_backward`; ``Tq`` and ``Tk`` must be non-zero.
    """
    batch, heads, tq, head_dim = query.shape
    tk = key.shape[2]
    dq = torch.empty((batch, heads, tq, head_dim), dtype=query.dtype, device=query.device)
    dk = torch.empty((batch, heads, tk, head_dim), dtype=key.dtype, device=key.device)
    dv = torch.empty((batch, heads, tk, head_dim), dtype=value.dtype, device=value.device)
    mask_args, flags = _mask_args(query, key_lengths, query_lengths, query_segments, key_segments)
    q_seg, k_seg, q_len, k_len, *mask_strides = mask_args
    constexprs = dict(
        HEAD_DIM=head_dim, PRECISION=_precision(query.dtype), UPCAST_DOT=_upcast_dot(query.dtype), **flags
    )

    delta = torch.empty((batch, heads, tq), dtype=torch.float32, device=query.device)
    grad_out = grad_out.to(query.dtype)
    dlse = grad_lse if grad_lse is not None else lse
    delta_launch = KernelLaunch(
        "delta",
        _bwd_delta_kernel,
        (out, grad_out, dlse, delta, *out.stride(), *grad_out.stride(), *dlse.stride(), heads, tq),
        dict(HEAD_DIM=head_dim, HAS_DLSE=grad_lse is not None),
        tq,
        "BLOCK_M",
        batch * heads,
        INTERPRETER_CONFIG if INTERPRETED else _DELTA_CONFIG,
    )
    common = (*query.stride(), *key.stride(), *value.stride(), *grad_out.stride(), *lse.stride())
    dkdv_args = (
        query, key, value, grad_out, lse, delta, dk, dv,
        q_seg, k_seg, q_len, k_len,
        *common, *dk.stride(), *dv.stride(),
        *mask_strides,
        heads, tq, tk,
        scale * _LOG2E, scale,
    )  # fmt: skip
    dq_args = (
        query, key, value, grad_out, lse, delta, dq,
        q_seg, k_seg, q_len, k_len,
        *common, *dq.stride(),
        *mask_strides,
        heads, tq, tk,
        scale * _LOG2E, scale,
    )  # fmt: skip
    dkdv_launch = KernelLaunch(
        "dkdv", _bwd_dkdv_kernel, dkdv_args, constexprs, tk, "BLOCK_N", batch * heads,
        _config("dkdv", query, key, flags),
    )  # fmt: skip
    dq_launch = KernelLaunch(
        "dq", _bwd_dq_kernel, dq_args, constexprs, tq, "BLOCK_M", batch * heads, _config("dq", query, key, flags)
    )
    return dq, dk, dv, (delta_launch, dkdv_launch, dq_launch)


def attention_backward(
    grad_out: Tensor,
    grad_lse: Tensor | None,
    query: Tensor,
    key: Tensor,
    value: Tensor,
    out: Tensor,
    lse: Tensor,
    key_lengths: Tensor | None,
    query_lengths: Tensor | None,
    query_segments: Tensor | None,
    key_segments: Tensor | None,
    scale: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Launch the three backward kernels (delta, dK/dV, dQ).

    Inputs as for :func:`attention_forward`, plus ``grad_out`` ``(B, H, Tq, D)``, the forward's ``out``
    and ``lse``, and ``grad_lse`` ``(B, H, Tq)`` or ``None``. Returns contiguous ``dq``, ``dk``, ``dv``
    in the dtypes of query, key and value.
    """
    batch, heads, tq, head_dim = query.shape
    tk = key.shape[2]
    if batch * heads == 0 or head_dim == 0 or tq == 0 or tk == 0:
        # Nothing attends: every gradient is zero (and empty where a dimension is).
        return tuple(torch.zeros(t.shape, dtype=t.dtype, device=t.device) for t in (query, key, value))
    dq, dk, dv, launches = backward_launches(
        grad_out, grad_lse, query, key, value, out, lse,
        key_lengths, query_lengths, query_segments, key_segments, scale,
    )  # fmt: skip
    for launch in launches:
        launch.run()
    return dq, dk, dv
