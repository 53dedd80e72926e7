"""The fused attention kernel against an explicit fp32 softmax reference, run by the Triton CPU interpreter.

Triton decides when ``mmzoo.ops._triton_attention`` is imported whether its kernels run in the interpreter,
so the module fixture sets ``TRITON_INTERPRET=1`` and (re)imports the kernels module under it, and undoes
both afterwards. Shapes are tiny: the interpreter runs every program in numpy.
"""

from __future__ import annotations

import importlib
import os
import sys

import pytest
import torch

try:
    import triton  # noqa: F401
except Exception as error:  # a missing or broken install
    pytest.skip(f"triton cannot be imported: {error}", allow_module_level=True)

from mmzoo.ops.fused_attention import (
    PADDING_SEGMENT,
    SHARED_SEGMENT,
    fused_attention,
    fused_attention_unsupported,
)

KERNELS = "mmzoo.ops._triton_attention"
# The module itself (``mmzoo.ops.fused_attention`` may be shadowed by the function of that name in the package).
fa = importlib.import_module("mmzoo.ops.fused_attention")


@pytest.fixture(scope="module", autouse=True)
def interpreted_kernels():
    """Build the kernels for the CPU interpreter for this module, then restore the previous mode."""
    previous = os.environ.get("TRITON_INTERPRET")
    was_loaded = KERNELS in sys.modules
    was_interpreted = was_loaded and sys.modules[KERNELS].INTERPRETED
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        kernels = importlib.import_module(KERNELS)
        if not kernels.INTERPRETED:
            kernels = importlib.reload(kernels)
        if not kernels.INTERPRETED:  # triton.knobs overridden in code, not from the environment
            pytest.skip("could not switch the Triton kernels to the interpreter")
        yield kernels
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous
        if not was_interpreted:
            # Forget the interpreted build: the next use imports the kernels in the restored mode.
            sys.modules.pop(KERNELS, None)


# --------------------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------------------


def allowed_mask(
    batch: int,
    tq: int,
    tk: int,
    key_lengths: torch.Tensor | None = None,
    query_lengths: torch.Tensor | None = None,
    query_segments: torch.Tensor | None = None,
    key_segments: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``(B, Tq, Tk)``: may query i attend key j (the documented rule, written densely)."""
    allowed = torch.ones(batch, tq, tk, dtype=torch.bool)
    if key_lengths is not None:
        allowed &= torch.arange(tk)[None, None, :] < key_lengths[:, None, None]
    if query_lengths is not None:
        allowed &= torch.arange(tq)[None, :, None] < query_lengths[:, None, None]
    if query_segments is not None:
        qs = query_segments[:, :, None]
        ks = key_segments[:, None, :]
        same = (qs == ks) | (qs == SHARED_SEGMENT) | (ks == SHARED_SEGMENT)
        allowed &= same & (qs != PADDING_SEGMENT) & (ks != PADDING_SEGMENT)
    return allowed


def reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, allowed: torch.Tensor, scale: float) -> torch.Tensor:
    """fp32 masked softmax attention; rows without an allowed key are exactly zero (no gradient)."""
    allowed = allowed[:, None]  # (B, 1, Tq, Tk)
    has_keys = allowed.any(-1, keepdim=True)
    scores = (q.float() @ k.float().transpose(-1, -2)) * scale
    scores = scores.masked_fill(~allowed, float("-inf")).masked_fill(~has_keys, 0.0)
    probs = torch.softmax(scores, dim=-1) * allowed
    return probs @ v.float()


TOLERANCES = {
    torch.float32: dict(atol=2e-5, rtol=2e-5),
    torch.float16: dict(atol=2e-2, rtol=2e-2),
    torch.bfloat16: dict(atol=6e-2, rtol=6e-2),
}


def leaves(*shapes: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator).to(dtype).requires_grad_() for shape in shapes]


def check_against_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    leaf_tensors: list[torch.Tensor],
    build,
    allowed: torch.Tensor,
    **mask_kwargs,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run the kernel and the reference on the same leaves; compare outputs and the leaves' gradients.

    ``build(leaves) -> (q, k, v)`` maps leaf tensors to the attention inputs (so views can be tested);
    ``q, k, v`` are ``build(leaf_tensors)``. Returns the kernel output and the leaves' gradients.
    """
    dtype = leaf_tensors[0].dtype
    scale = q.shape[-1] ** -0.5
    out = fused_attention(q, k, v, **mask_kwargs)
    assert out.shape == q.shape and out.dtype == dtype and out.is_contiguous()
    assert torch.isfinite(out).all()
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(7)).to(dtype)
    out.backward(grad_out)
    grads = [leaf.grad for leaf in leaf_tensors]

    ref_leaves = [leaf.detach().float().requires_grad_() for leaf in leaf_tensors]
    ref = reference(*build(ref_leaves), allowed, scale)
    ref.backward(grad_out.float())
    tol = TOLERANCES[dtype]
    torch.testing.assert_close(out.float(), ref, **tol)
    for name, grad, ref_leaf in zip("qkv", grads, ref_leaves):
        assert grad is not None and torch.isfinite(grad).all(), name
        torch.testing.assert_close(grad.float(), ref_leaf.grad, **tol, msg=lambda m, n=name: f"grad {n}: {m}")
    return out, grads


def identity(ts: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return tuple(ts)


DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=["fp32", "fp16"])


# --------------------------------------------------------------------------------------------------
# Masking cases
# --------------------------------------------------------------------------------------------------


@DTYPES
def test_key_lengths_with_an_empty_row(dtype: torch.dtype) -> None:
    B, H, T, D = 2, 2, 40, 16
    key_lengths = torch.tensor([23, 0])
    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=dtype)
    allowed = allowed_mask(B, T, T, key_lengths=key_lengths)
    out, (dq, dk, dv) = check_against_reference(q, k, v, [q, k, v], identity, allowed, key_lengths=key_lengths)
    # Batch 1 has no keys: zero output and zero gradients, not NaN.
    assert (out[1] == 0).all()
    assert (dq[1] == 0).all() and (dk[1] == 0).all() and (dv[1] == 0).all()
    # Padded keys of batch 0 get no gradient.
    assert (dk[0, :, 23:] == 0).all() and (dv[0, :, 23:] == 0).all()


@DTYPES
def test_query_lengths(dtype: torch.dtype) -> None:
    B, H, T, D = 2, 2, 40, 16
    query_lengths = torch.tensor([17, 40])
    key_lengths = torch.tensor([40, 9])
    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=dtype, seed=1)
    allowed = allowed_mask(B, T, T, key_lengths=key_lengths, query_lengths=query_lengths)
    out, (dq, _, _) = check_against_reference(
        q, k, v, [q, k, v], identity, allowed, key_lengths=key_lengths, query_lengths=query_lengths
    )
    assert (out[0, :, 17:] == 0).all() and (dq[0, :, 17:] == 0).all()


@DTYPES
def test_segments_with_shared_and_padding_tokens(dtype: torch.dtype) -> None:
    B, H, T, D = 2, 2, 36, 32
    generator = torch.Generator().manual_seed(3)
    # Segments 1 and 2, shared tokens (0) scattered in, and padding (-1), including whole padded tails.
    segments = torch.randint(0, 3, (B, T), generator=generator)
    segments[0, 30:] = PADDING_SEGMENT
    segments[1, 5] = PADDING_SEGMENT
    segments[1, 20:] = 2
    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=dtype, seed=2)
    allowed = allowed_mask(B, T, T, query_segments=segments, key_segments=segments)
    assert {0, 1, 2, -1} <= set(segments.unique().tolist())
    out, (dq, dk, dv) = check_against_reference(
        q, k, v, [q, k, v], identity, allowed, query_segments=segments, key_segments=segments
    )
    padded = segments == PADDING_SEGMENT  # (B, T)
    assert (out.transpose(1, 2)[padded] == 0).all()
    assert (dq.transpose(1, 2)[padded] == 0).all()
    assert (dk.transpose(1, 2)[padded] == 0).all() and (dv.transpose(1, 2)[padded] == 0).all()


def test_packed_segments_skip_blocks_that_cannot_meet() -> None:
    """Sorted (packed) segments: block pairs whose segments cannot meet are skipped, not just masked.

    Keys 32..47 form segment 5, which no query has (and no query is shared, since a shared query attends
    every segment). Their values are NaN: a masked-but-computed block
    would still poison the output (0 * NaN), a skipped one leaves it finite. The interpreter's blocks are
    16 wide, so the whole key block is skipped in the forward, dQ and dK/dV kernels.
    """
    B, H, T, D = 1, 2, 48, 16
    query_segments = torch.tensor([[1] * 16 + [2] * 32])
    key_segments = torch.tensor([[1] * 10 + [0] * 2 + [1] * 4 + [2] * 16 + [5] * 16])
    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=torch.float32, seed=12)
    with torch.no_grad():
        v[:, :, 32:] = float("nan")
    out = fused_attention(q, k, v, query_segments=query_segments, key_segments=key_segments)
    assert torch.isfinite(out).all()
    out.backward(torch.ones_like(out))
    assert torch.isfinite(q.grad).all() and (k.grad[:, :, 32:] == 0).all() and (v.grad[:, :, 32:] == 0).all()

    allowed = allowed_mask(B, T, T, query_segments=query_segments, key_segments=key_segments)
    ref = reference(q.detach(), k.detach(), v.detach().nan_to_num(0.0), allowed, D**-0.5)
    torch.testing.assert_close(out.detach(), ref, **TOLERANCES[torch.float32])


def test_segments_without_block_skipping(interpreted_kernels, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mask-only variant (what fp32 compiles to on a GPU) gives the same results."""
    monkeypatch.setattr(interpreted_kernels, "_skip_blocks", lambda dtype: False)
    B, H, Tq, Tk, D = 2, 1, 20, 33, 16
    generator = torch.Generator().manual_seed(13)
    query_segments = torch.randint(-1, 3, (B, Tq), generator=generator)
    key_segments = torch.randint(-1, 3, (B, Tk), generator=generator)
    key_lengths = torch.tensor([33, 17])
    q, k, v = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), dtype=torch.float32, seed=14)
    mask_kwargs = dict(key_lengths=key_lengths, query_segments=query_segments, key_segments=key_segments)
    allowed = allowed_mask(B, Tq, Tk, **mask_kwargs)
    check_against_reference(q, k, v, [q, k, v], identity, allowed, **mask_kwargs)


@DTYPES
def test_cross_attention_with_ragged_lengths(dtype: torch.dtype) -> None:
    B, H, Tq, Tk, D = 2, 2, 19, 45, 16
    key_lengths = torch.tensor([45, 33])
    query_lengths = torch.tensor([7, 19])
    generator = torch.Generator().manual_seed(4)
    query_segments = torch.randint(0, 3, (B, Tq), generator=generator)
    key_segments = torch.randint(-1, 3, (B, Tk), generator=generator)
    q, k, v = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), dtype=dtype, seed=5)
    mask_kwargs = dict(
        key_lengths=key_lengths,
        query_lengths=query_lengths,
        query_segments=query_segments,
        key_segments=key_segments,
    )
    allowed = allowed_mask(B, Tq, Tk, **mask_kwargs)
    check_against_reference(q, k, v, [q, k, v], identity, allowed, **mask_kwargs)


@DTYPES
def test_non_contiguous_inputs(dtype: torch.dtype) -> None:
    B, H, Tq, Tk, D = 2, 2, 21, 30, 16
    # (B, T, H, D) layouts viewed as (B, H, T, D); value is a slice of a wider tensor.
    q_bthd, k_bthd, v_wide = leaves((B, Tq, H, D), (B, Tk, H, D), (B, Tk, H, 2 * D), dtype=dtype, seed=6)

    def build(ts: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        return ts[0].transpose(1, 2), ts[1].transpose(1, 2), ts[2].permute(0, 2, 1, 3)[..., D:]

    q, k, v = build([q_bthd, k_bthd, v_wide])
    assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous())
    # Segment ids as strided views of one buffer: rows 70 apart, keys every other column.
    buffer = torch.tensor([[1, 2, 0, 1, 1, 2, -1] * 10, [2, 2, 1, 0, -1, 1, 1] * 10])
    query_segments, key_segments = buffer[:, :Tq], buffer[:, 1 : 2 * Tk : 2]
    assert key_segments.shape == (B, Tk) and key_segments.stride() == (70, 2)
    key_lengths = torch.tensor([[28, 0], [30, 0]])[:, 0]  # non-unit stride
    assert key_lengths.stride(0) == 2
    mask_kwargs = dict(key_lengths=key_lengths, query_segments=query_segments, key_segments=key_segments)
    allowed = allowed_mask(B, Tq, Tk, **mask_kwargs)
    _, (_, _, dv_wide) = check_against_reference(q, k, v, [q_bthd, k_bthd, v_wide], build, allowed, **mask_kwargs)
    assert (dv_wide[..., :D] == 0).all()


def test_bfloat16_with_lengths_and_segments() -> None:
    B, H, Tq, Tk, D = 1, 2, 24, 27, 16
    key_lengths = torch.tensor([25])
    query_segments = torch.tensor([[1] * 10 + [0] * 4 + [2] * 10])
    key_segments = torch.tensor([[2] * 9 + [1] * 9 + [0, -1] * 4 + [1]])
    q, k, v = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), dtype=torch.bfloat16, seed=8)
    mask_kwargs = dict(key_lengths=key_lengths, query_segments=query_segments, key_segments=key_segments)
    allowed = allowed_mask(B, Tq, Tk, **mask_kwargs)
    check_against_reference(q, k, v, [q, k, v], identity, allowed, **mask_kwargs)


@DTYPES
def test_blocks_inside_the_lengths_run_unmasked(dtype: torch.dtype) -> None:
    """Without segment ids only the block that straddles a length is masked (16-wide blocks here).

    Row 0 has queries 20..31 past its query length inside a full query block, which the unmasked loops
    see; they must still output zeros and pass no gradient. Large scores check that nothing overflows in
    those rows (their stored log-sum-exp is -inf).
    """
    B, H, T, D = 2, 2, 40, 16
    key_lengths = torch.tensor([40, 35])
    query_lengths = torch.tensor([20, 40])
    generator = torch.Generator().manual_seed(15)
    base = [torch.randn(B, H, T, D, generator=generator) * 3 for _ in range(3)]
    q, k, v = (t.to(dtype).requires_grad_() for t in base)
    allowed = allowed_mask(B, T, T, key_lengths=key_lengths, query_lengths=query_lengths)
    out, (dq, dk, dv) = check_against_reference(
        q, k, v, [q, k, v], identity, allowed, key_lengths=key_lengths, query_lengths=query_lengths
    )
    assert (out[0, :, 20:] == 0).all() and (dq[0, :, 20:] == 0).all()
    assert (dk[1, :, 35:] == 0).all() and (dv[1, :, 35:] == 0).all()


@DTYPES
def test_no_mask_with_ragged_block_tails(dtype: torch.dtype) -> None:
    B, H, Tq, Tk, D = 1, 2, 37, 53, 32
    q, k, v = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), dtype=dtype, seed=16)
    check_against_reference(q, k, v, [q, k, v], identity, torch.ones(B, Tq, Tk, dtype=torch.bool))


@pytest.mark.parametrize("segments", [False, True], ids=["lengths", "segments"])
def test_results_do_not_depend_on_the_launch_configuration(interpreted_kernels, segments: bool) -> None:
    """Tuned tables may pick any tile shape: each gives the same outputs and gradients."""
    from mmzoo.ops._attention_configs import LaunchConfig

    B, H, Tq, Tk, D = 2, 1, 45, 38, 16
    q, k, v, grad = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), (B, H, Tq, D), dtype=torch.float32, seed=17)
    lengths = (torch.tensor([38, 21]), torch.tensor([45, 30]))  # keys, queries
    seg = (torch.randint(-1, 3, (B, Tq)), torch.randint(-1, 3, (B, Tk))) if segments else (None, None)
    mask = (*lengths, *seg)
    results = []
    for config in (None, LaunchConfig(32, 16, 1, 1), LaunchConfig(16, 32, 1, 1)):
        out, lse, forward = interpreted_kernels.forward_launch(q, k, v, *mask, 0.25)
        forward.run(config)
        dq, dk, dv, launches = interpreted_kernels.backward_launches(grad, None, q, k, v, out, lse, *mask, 0.25)
        for launch in launches:
            launch.run(None if launch.name == "delta" else config)
        results.append((out, lse, dq, dk, dv))
    for other in results[1:]:
        for expected, got in zip(results[0], other, strict=True):
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("segments", [False, True], ids=["lengths", "segments"])
def test_launches_bind_exactly_the_arguments_their_kernels_declare(interpreted_kernels, segments: bool) -> None:
    """A compiled kernel rejects an undeclared keyword argument (the interpreter ignores it): on the GPU
    the delta kernel once failed on a BLOCK_N it does not have. Checked here by binding, for every launch."""
    B, H, T, D = 2, 2, 20, 16
    q, k, v, grad = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=torch.float32, seed=18)
    lengths = torch.tensor([20, 11])
    seg = torch.zeros(B, T, dtype=torch.int32) if segments else None
    out, lse, forward = interpreted_kernels.forward_launch(q, k, v, lengths, lengths, seg, seg, 0.25)
    *_, launches = interpreted_kernels.backward_launches(grad, None, q, k, v, out, lse, lengths, lengths, seg, seg, 0.25)
    for launch in (forward, *launches):
        params = list(launch.kernel.arg_names)
        keywords = {**launch.constexprs, **launch.tiles(launch.config)}
        assert set(keywords) <= set(params), (launch.name, set(keywords) - set(params))
        positional = [name for name in params if name not in keywords]
        assert len(positional) == len(launch.args), (launch.name, positional[len(launch.args) :])


def test_log_sum_exp_output_and_gradient() -> None:
    """The op's second output is the fp32 log-sum-exp (-inf on empty rows) and is differentiable."""
    B, H, T, D = 2, 1, 20, 16
    key_lengths = torch.tensor([13, 0])
    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=torch.float32, seed=9)
    scale = 0.3
    out, lse = torch.ops.mmzoo.fused_attention_forward(q, k, v, key_lengths, None, None, None, scale)
    assert lse.dtype == torch.float32 and lse.shape == (B, H, T)
    assert torch.isneginf(lse[1]).all()
    weights = torch.randn(B, H, T)
    weights[1] = 0.0  # -inf rows cannot enter a finite loss
    (lse.nan_to_num(neginf=0.0) * weights).sum().backward()

    ref_q, ref_k = q.detach().requires_grad_(), k.detach().requires_grad_()
    scores = (ref_q @ ref_k.transpose(-1, -2)) * scale
    ref_lse = scores[0:1, ..., :13].logsumexp(-1)
    (ref_lse * weights[0:1]).sum().backward()
    torch.testing.assert_close(lse[0:1], ref_lse.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(q.grad[0:1], ref_q.grad[0:1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(k.grad[0:1], ref_k.grad[0:1], atol=1e-5, rtol=1e-5)
    assert (q.grad[1] == 0).all() and (v.grad == 0).all()


# --------------------------------------------------------------------------------------------------
# Custom op plumbing
# --------------------------------------------------------------------------------------------------


def test_opcheck_forward_op() -> None:
    B, H, Tq, Tk, D = 1, 1, 9, 12, 16
    q, k, v = leaves((B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, D), dtype=torch.float32, seed=10)
    segments_q = torch.tensor([[1, 1, 0, 2, 2, 2, 1, -1, 0]])
    segments_k = torch.tensor([[0, 1, 1, 2, -1, 2, 2, 1, 1, 0, 2, 1]])
    args = (q, k, v, torch.tensor([10]), torch.tensor([8]), segments_q, segments_k, 0.25)
    torch.library.opcheck(torch.ops.mmzoo.fused_attention_forward.default, args)


def test_torch_compile_fullgraph_matches_eager() -> None:
    B, H, T, D = 2, 2, 20, 16
    key_lengths = torch.tensor([20, 11])

    def block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return fused_attention(q * 2.0, k, v, key_lengths=lengths).sum(dim=1)

    q, k, v = leaves((B, H, T, D), (B, H, T, D), (B, H, T, D), dtype=torch.float32, seed=11)
    torch._dynamo.reset()
    compiled = torch.compile(block, fullgraph=True, backend="aot_eager")
    got = compiled(q, k, v, key_lengths)
    got.sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    expected = block(q, k, v, key_lengths)
    expected.sum().backward()
    torch.testing.assert_close(got, expected)
    for grad, t in zip(grads, (q, k, v)):
        torch.testing.assert_close(grad, t.grad)
    torch._dynamo.reset()


def test_fake_impl_shapes() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        q = torch.empty(2, 3, 5, 32, dtype=torch.float16).transpose(1, 2)  # (2, 5, 3, 32), non-contiguous
        k = torch.empty(2, 5, 7, 32, dtype=torch.float16)
        out, lse = torch.ops.mmzoo.fused_attention_forward(q, k, k, None, None, None, None, 0.5)
        assert out.shape == (2, 5, 3, 32) and out.dtype == torch.float16 and out.is_contiguous()
        assert lse.shape == (2, 5, 3) and lse.dtype == torch.float32 and lse.is_contiguous()
        dq, dk, dv = torch.ops.mmzoo.fused_attention_backward(out, None, q, k, k, out, lse, None, None, None, None, 0.5)
        assert dq.shape == q.shape and dk.shape == k.shape and dv.shape == k.shape and dq.is_contiguous()


# --------------------------------------------------------------------------------------------------
# Argument checks and unsupported inputs
# --------------------------------------------------------------------------------------------------


def test_unsupported_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    q = torch.zeros(1, 2, 4, 16)
    assert fused_attention_unsupported(q, q, q) is None
    wide = torch.zeros(1, 2, 4, 80)
    assert fused_attention_unsupported(wide, wide, wide) == "head dim 80 is not supported (16, 32, 64, 128)"
    double = q.double()
    reason = fused_attention_unsupported(double, double, double)
    assert reason == "dtype torch.float64 is not supported (float16, bfloat16, float32)"
    other_heads = torch.zeros(1, 1, 4, 16)
    assert fused_attention_unsupported(q, other_heads, other_heads) == "query and key have different numbers of heads"
    with pytest.raises(ValueError, match="head dim 80"):
        fused_attention(wide, wide, wide)

    # CPU tensors with the kernels not (yet) built for the interpreter and the variable unset.
    monkeypatch.delitem(sys.modules, KERNELS)
    monkeypatch.delenv("TRITON_INTERPRET")
    assert fused_attention_unsupported(q, q, q) == "tensors are on cpu and TRITON_INTERPRET is not set"


def test_unsupported_without_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    fa._triton_import_error.cache_clear()
    monkeypatch.setitem(sys.modules, "triton", None)  # makes `import triton` raise ImportError
    try:
        q = torch.zeros(1, 1, 4, 16)
        assert fused_attention_unsupported(q, q, q) == "triton is not installed"
    finally:
        fa._triton_import_error.cache_clear()


def test_mask_argument_errors() -> None:
    q = torch.zeros(2, 1, 4, 16)
    with pytest.raises(ValueError, match="together"):
        fused_attention(q, q, q, query_segments=torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="key_lengths must have shape"):
        fused_attention(q, q, q, key_lengths=torch.tensor([4]))
    with pytest.raises(ValueError, match="integer"):
        fused_attention(q, q, q, query_lengths=torch.tensor([4.0, 2.0]))


def test_mmzoo_attention_dispatches_to_the_kernel_with_any_padding_mask() -> None:
    """``model.attention: fused`` through mmzoo's attention function: masks that are not a prefix
    (a joint sequence of two padded modalities) and segment ids give what the SDPA backend gives."""
    from mmzoo.ops.attention import attention, attention_backend

    q, k, v = leaves((2, 2, 12, 16), (2, 2, 12, 16), (2, 2, 12, 16), dtype=torch.float32, seed=3)
    mask = torch.tensor([[1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    segments = torch.tensor([[0, 1, 1, 1, 2, 2, 2, 2, 0, 2, 2, 2], [0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]])
    for extra in (
        {},
        {"query_segments": segments, "key_segments": segments},
        {"query_padding_mask": mask, "query_segments": segments, "key_segments": segments},
    ):
        results = []
        for backend in ("sdpa", "fused"):
            with attention_backend(backend):
                out = attention(q, k, v, key_padding_mask=mask, **extra)
            grads = torch.autograd.grad(out.square().sum(), (q, k, v))
            results.append((out, *grads))
        for expected, got in zip(*results, strict=True):
            torch.testing.assert_close(got, expected, atol=2e-5, rtol=2e-5)


def test_a_fusion_trains_the_same_with_the_kernel() -> None:
    from mmzoo.contracts import Encoded
    from mmzoo.fusions.joint_transformer import JointTransformerFusion
    from mmzoo.ops.attention import attention_backend

    torch.manual_seed(0)
    fusion = JointTransformerFusion({"audio": 8, "text": 8}, dim=32, heads=2, layers=1)
    lengths = {"audio": torch.tensor([5, 2]), "text": torch.tensor([3, 0])}
    encoded = {
        m: Encoded(seq=torch.randn(2, 6, 8), mask=torch.arange(6) < lengths[m][:, None], pooled=torch.randn(2, 8))
        for m in lengths
    }
    results = []
    for backend in ("sdpa", "fused"):
        fusion.zero_grad()
        with attention_backend(backend):
            pooled = fusion(encoded).pooled
        pooled.square().sum().backward()
        results.append((pooled.detach(), [p.grad.clone() for p in fusion.parameters()]))
    torch.testing.assert_close(results[1][0], results[0][0], atol=1e-5, rtol=1e-5)
    for got, expected in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
