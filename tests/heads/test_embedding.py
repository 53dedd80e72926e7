"""The embedding head: unit-norm projections of one modality's pooled vector or the fused one."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded, Fused
from mmzoo.heads.embedding import EmbeddingHead
from mmzoo.plugins import load_registry


def _encoded(batch: int = 4) -> dict[str, Encoded]:
    out = {}
    for name, dim in (("audio", 8), ("text", 6)):
        seq = torch.randn(batch, 3, dim)
        out[name] = Encoded(seq=seq, mask=torch.ones(batch, 3, dtype=torch.bool), pooled=seq.mean(1))
    return out


@pytest.mark.parametrize("hidden_dim", [None, 12])
def test_output_has_unit_norm(hidden_dim):
    head = EmbeddingHead(in_dim=5, dim=7, modality="audio", hidden_dim=hidden_dim, encoder_dims={"audio": 8, "text": 6})
    out = head(Fused(pooled=torch.randn(4, 5)), _encoded())
    assert out.shape == (4, 7)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))
    assert set(head.predict(out)) == {"embedding"}


def test_reads_the_named_modality_only():
    head = EmbeddingHead(in_dim=5, dim=7, modality="text", encoder_dims={"audio": 8, "text": 6})
    encoded = _encoded()
    out = head(Fused(pooled=torch.randn(4, 5)), encoded)
    other = dict(encoded, audio=Encoded(*(t * 3 + 1 if t.is_floating_point() else t for t in encoded["audio"][:3])))
    torch.testing.assert_close(head(Fused(pooled=torch.randn(4, 5)), other), out)
    changed = dict(encoded, text=encoded["text"]._replace(pooled=torch.randn(4, 6)))
    assert not torch.allclose(head(Fused(pooled=torch.randn(4, 5)), changed), out)


def test_without_modality_reads_the_fused_vector():
    head = EmbeddingHead(in_dim=5, dim=3)
    fused = torch.randn(4, 5, requires_grad=True)
    out = head(Fused(pooled=fused), _encoded())
    out.sum().backward()
    assert fused.grad is not None and fused.grad.abs().sum() > 0


def test_unknown_modality_is_refused():
    with pytest.raises(ValueError, match="no encoder for modality 'image'"):
        EmbeddingHead(in_dim=5, modality="image", encoder_dims={"audio": 8})


def test_registered_with_context_dims():
    entry = load_registry(warn=False).get("head", "embedding")
    head = entry.build({"modality": "audio", "dim": 4}, {"in_dim": 5, "encoder_dims": {"audio": 8}})
    assert head.net[-1].in_features == 8 and head.dim == 4
