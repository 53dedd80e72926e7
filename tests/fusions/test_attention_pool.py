"""The attention fusion: softmax weights over the modalities present in each row."""

from __future__ import annotations

import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions import AttentionPoolFusion
from mmzoo.testing.contracts import example_encoded

DIMS = {"audio": 8, "image": 12, "text": 6}


def _encoded(seed: int = 0) -> dict[str, Encoded]:
    return example_encoded(DIMS, [6, 3, 1, 5], torch.Generator().manual_seed(seed))


def _drop(item: Encoded, row: int) -> Encoded:
    mask = item.mask.clone()
    mask[row] = False
    pooled = item.pooled.detach().clone()
    pooled[row] = 1e3  # garbage the fusion must ignore
    return Encoded(seq=item.seq, mask=mask, pooled=pooled)


def test_weights_sum_to_one_over_present_modalities():
    torch.manual_seed(0)
    fusion = AttentionPoolFusion(DIMS, dim=16).eval()
    encoded = _encoded()
    encoded["image"] = _drop(encoded["image"], 1)
    encoded["audio"] = _drop(encoded["audio"], 2)
    out = fusion(encoded)
    assert out.weights.shape == (4, 3)
    torch.testing.assert_close(out.weights.sum(dim=1), torch.ones(4))
    assert out.weights[1, 1] == 0 and out.weights[2, 0] == 0
    assert (out.weights[0] > 0).all()
    parts = torch.stack([out.parts[m] for m in sorted(DIMS)], dim=1)
    expected = (out.weights.unsqueeze(-1) * torch.where(out.weights.unsqueeze(-1) > 0, parts, 0.0)).sum(dim=1)
    torch.testing.assert_close(out.pooled, expected)
    assert torch.isfinite(out.pooled).all()


def test_row_without_any_modality_gives_zeros():
    fusion = AttentionPoolFusion({"a": 4, "b": 4}, dim=8).eval()
    encoded = {m: _drop(e, 0) for m, e in example_encoded({"a": 4, "b": 4}, [3, 2], torch.Generator()).items()}
    out = fusion(encoded)
    assert torch.equal(out.weights[0], torch.zeros(2))
    assert torch.equal(out.pooled[0], torch.zeros(8))
