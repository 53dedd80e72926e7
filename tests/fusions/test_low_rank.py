"""Low-rank fusion equals a rank-r linear map of the tensor-fusion tensor."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.low_rank import LowRankFusion
from mmzoo.fusions.tensor import TensorFusion


def _encoded(pooled: torch.Tensor, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 2).clone()
    seq = pooled.unsqueeze(1).expand(-1, 2, -1).clone()
    return Encoded(seq=seq, mask=mask, pooled=torch.where(mask[:, :1], pooled, 0.0))


def test_equals_a_linear_map_of_the_full_tensor():
    torch.manual_seed(0)
    fusion = LowRankFusion({"audio": 3, "text": 4}, dim=5, rank=3).eval()
    audio, text = torch.randn(2, 3), torch.randn(2, 4)
    out = fusion({"audio": _encoded(audio, [True, False]), "text": _encoded(text, [True, True])})
    one = torch.ones(2, 1)
    x_audio = torch.cat([torch.where(torch.tensor([[True], [False]]), audio, 0.0), one], dim=1)
    x_text = torch.cat([text, one], dim=1)
    full = torch.einsum("bi,bj->bij", x_audio, x_text)  # the tensor of tensor fusion, (B, 4, 5)
    weight = torch.einsum("r,rio,rjo->ijo", fusion.fusion_weights[0], fusion.factors["audio"], fusion.factors["text"])
    expected = torch.einsum("bij,ijo->bo", full, weight) + fusion.bias
    torch.testing.assert_close(out.pooled, expected)


@pytest.mark.parametrize("rank", [1, 64])
def test_any_rank_gives_the_same_shapes_as_tensor_fusion(rank):
    dims = {"audio": 5, "image": 3, "text": 4}
    inputs = {m: _encoded(torch.randn(4, d), [True, True, False, True]) for m, d in dims.items()}
    low = LowRankFusion(dims, dim=6, rank=rank).eval()
    full = TensorFusion(dims, dim=6).eval()
    assert low(inputs).pooled.shape == full(inputs).pooled.shape == (4, 6)
    # Parameters grow with the sum of the input widths, not their product.
    assert sum(p.numel() for p in low.factors.parameters()) == rank * 6 * sum(d + 1 for d in dims.values())


def test_rank_must_be_positive():
    with pytest.raises(ValueError, match="rank"):
        LowRankFusion({"audio": 2, "text": 2}, rank=0)
