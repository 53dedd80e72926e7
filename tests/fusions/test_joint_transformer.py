"""The joint_transformer fusion: one transformer over all modalities' tokens."""

from __future__ import annotations

import pytest
import torch

import mmzoo.encoders._transformer as transformer
from mmzoo.contracts import Encoded
from mmzoo.fusions import JointTransformerFusion
from mmzoo.ops.attention import attention
from mmzoo.testing.contracts import example_encoded

DIMS = {"audio": 8, "image": 12, "text": 6}


def _encoded():
    return example_encoded(DIMS, [6, 3, 1, 5], torch.Generator().manual_seed(0))


@pytest.mark.parametrize("pool", ["cls", "mean"])
def test_seq_and_mask_cover_every_modality(pool):
    encoded = _encoded()
    fusion = JointTransformerFusion(DIMS, dim=16, heads=2, layers=1, pool=pool).eval()
    out = fusion(encoded)
    extra = 1 if pool == "cls" else 0
    total = sum(e.seq.shape[1] for e in encoded.values())
    assert out.seq.shape == (4, total + extra, 16) and out.mask.shape == (4, total + extra)
    expected = torch.cat([encoded[m].mask for m in sorted(DIMS)], dim=1)
    if extra:
        assert out.mask[:, 0].all()
        torch.testing.assert_close(out.pooled, out.seq[:, 0])
    assert torch.equal(out.mask[:, extra:], expected)
    assert (out.seq[~out.mask] == 0).all()


def test_learned_positions_and_max_len():
    fusion = JointTransformerFusion(DIMS, dim=16, heads=2, layers=1, positions=True, max_len=6).eval()
    assert fusion(_encoded()).pooled.shape == (4, 16)
    short = JointTransformerFusion(DIMS, dim=16, heads=2, layers=1, positions=True, max_len=3).eval()
    with pytest.raises(ValueError, match="max_len"):
        short(_encoded())


def test_missing_modality_tokens_do_not_reach_others():
    fusion = JointTransformerFusion({"a": 4, "b": 4}, dim=16, heads=2, layers=2).eval()
    encoded = example_encoded({"a": 4, "b": 4}, [3, 2], torch.Generator().manual_seed(0))
    mask = encoded["a"].mask.clone()
    mask[0] = False
    first = fusion({**encoded, "a": Encoded(encoded["a"].seq, mask, encoded["a"].pooled)})
    second = fusion({**encoded, "a": Encoded(torch.randn_like(encoded["a"].seq), mask, encoded["a"].pooled)})
    torch.testing.assert_close(first.pooled[0], second.pooled[0])
    assert not torch.allclose(first.pooled[1], second.pooled[1])


def test_every_attention_goes_through_mmzoo(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return attention(*args, **kwargs)

    monkeypatch.setattr(transformer, "attention", counting)
    JointTransformerFusion(DIMS, dim=16, heads=2, layers=3).eval()(_encoded())
    assert len(calls) == 3
