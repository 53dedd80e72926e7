"""The mult fusion (MulT): directional cross-modal transformers, then self-attention per target."""

from __future__ import annotations

import pytest
import torch

import mmzoo.encoders._transformer as transformer
import mmzoo.fusions._blocks as blocks
from mmzoo.contracts import Encoded
from mmzoo.fusions import MulTFusion
from mmzoo.ops.attention import attention
from mmzoo.testing.contracts import example_encoded


def _encoded(dims, seed=0):
    return example_encoded(dims, [6, 3, 1, 5], torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dims", [{"a": 8, "b": 6}, {"a": 8, "b": 6, "c": 4}])
def test_every_attention_goes_through_mmzoo(monkeypatch, dims):
    calls = {"cross": 0, "self": 0}

    def counter(kind):
        def counting(*args, **kwargs):
            calls[kind] += 1
            return attention(*args, **kwargs)

        return counting

    monkeypatch.setattr(blocks, "attention", counter("cross"))
    monkeypatch.setattr(transformer, "attention", counter("self"))
    layers, m = 2, len(dims)
    out = MulTFusion(dims, dim=16, heads=2, layers=layers).eval()(_encoded(dims))
    assert out.pooled.shape == (4, 16) and set(out.parts) == set(dims)
    assert calls == {"cross": m * (m - 1) * layers, "self": m * layers}


def test_missing_source_leaves_target_finite_and_independent():
    dims = {"a": 8, "b": 6, "c": 4}
    fusion = MulTFusion(dims, dim=16, heads=2).eval()
    encoded = _encoded(dims)
    mask = encoded["a"].mask.clone()
    mask[0] = False
    first = fusion({**encoded, "a": Encoded(encoded["a"].seq, mask, encoded["a"].pooled)})
    second = fusion({**encoded, "a": Encoded(100 * torch.randn_like(encoded["a"].seq), mask, encoded["a"].pooled)})
    for m in ("b", "c"):
        torch.testing.assert_close(first.parts[m][0], second.parts[m][0])
    torch.testing.assert_close(first.pooled[0], (first.parts["b"][0] + first.parts["c"][0]) / 2)
    assert not torch.allclose(first.parts["b"][1:], second.parts["b"][1:])


def test_target_depends_on_source_real_tokens_only():
    dims = {"a": 8, "b": 6}
    fusion = MulTFusion(dims, dim=16, heads=2).eval()
    encoded = _encoded(dims)
    base = fusion(encoded).parts["a"]
    b = encoded["b"]
    padded = torch.where(b.mask.unsqueeze(-1), b.seq.detach(), 50 * torch.randn(b.seq.shape))
    torch.testing.assert_close(fusion({**encoded, "b": Encoded(padded, b.mask, b.pooled)}).parts["a"], base)
    assert not torch.allclose(fusion({**encoded, "b": Encoded(b.seq.detach() + 1, b.mask, b.pooled)}).parts["a"], base)
