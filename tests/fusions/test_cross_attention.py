"""The cross_attention fusion: co-attention between modalities through mmzoo's attention."""

from __future__ import annotations

import pytest
import torch

import mmzoo.fusions._blocks as blocks
from mmzoo.contracts import Encoded
from mmzoo.fusions import CrossAttentionFusion
from mmzoo.ops.attention import attention
from mmzoo.testing.contracts import example_encoded


def _encoded(dims, seed=0):
    return example_encoded(dims, [6, 3, 1, 5], torch.Generator().manual_seed(seed))


def _with_seq(item: Encoded, seq: torch.Tensor) -> Encoded:
    return Encoded(seq=seq, mask=item.mask, pooled=item.pooled)


def test_a_depends_on_real_tokens_of_b_but_not_padded_ones():
    torch.manual_seed(0)
    fusion = CrossAttentionFusion({"a": 8, "b": 6}, dim=16, heads=2, layers=2).eval()
    encoded = _encoded({"a": 8, "b": 6})
    base = fusion(encoded).parts["a"]
    b = encoded["b"]
    padded = torch.where(b.mask.unsqueeze(-1), b.seq.detach(), 50 * torch.randn(b.seq.shape))
    torch.testing.assert_close(fusion({**encoded, "b": _with_seq(b, padded)}).parts["a"], base)
    real = torch.where(b.mask.unsqueeze(-1), b.seq.detach() + 1.0, b.seq.detach())
    changed = fusion({**encoded, "b": _with_seq(b, real)}).parts["a"]
    assert not torch.allclose(changed, base)


@pytest.mark.parametrize("dims", [{"a": 8, "b": 6}, {"a": 8, "b": 6, "c": 4}])
def test_every_attention_goes_through_mmzoo(monkeypatch, dims):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return attention(*args, **kwargs)

    monkeypatch.setattr(blocks, "attention", counting)
    fusion = CrossAttentionFusion(dims, dim=16, heads=2, layers=2).eval()
    out = fusion(_encoded(dims))
    assert out.pooled.shape == (4, 16) and set(out.parts) == set(dims)
    assert len(calls) == 2 * len(dims)
    assert all(shape[:2] == (4, 2) for shape in calls)  # (B, H, T, D)


def test_pooled_is_mean_of_parts_over_present_modalities():
    fusion = CrossAttentionFusion({"a": 8, "b": 6}, dim=16, heads=2).eval()
    encoded = _encoded({"a": 8, "b": 6})
    mask = encoded["a"].mask.clone()
    mask[0] = False
    encoded["a"] = Encoded(seq=encoded["a"].seq, mask=mask, pooled=encoded["a"].pooled)
    out = fusion(encoded)
    torch.testing.assert_close(out.pooled[0], out.parts["b"][0])
    torch.testing.assert_close(out.pooled[1:], (out.parts["a"][1:] + out.parts["b"][1:]) / 2)
