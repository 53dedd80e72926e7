"""Sum, mean and max fusions: reductions over the projections of present modalities."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.pooling import MaxFusion, MeanFusion, SumFusion


def _encoded(pooled: torch.Tensor, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 3).clone()
    seq = pooled.unsqueeze(1).expand(-1, 3, -1).clone()
    return Encoded(seq=seq, mask=mask, pooled=torch.where(mask[:, :1], pooled, 0.0))


def _tied(cls):
    torch.manual_seed(0)
    fusion = cls({"audio": 5, "text": 5}, dim=4).eval()
    fusion.proj["text"].load_state_dict(fusion.proj["audio"].state_dict())
    return fusion


@pytest.mark.parametrize(("cls", "scale"), [(MeanFusion, 1.0), (MaxFusion, 1.0), (SumFusion, 2.0)])
def test_identical_projections_reduce_to_the_projection(cls, scale):
    fusion = _tied(cls)
    x = torch.randn(3, 5)
    out = fusion({"audio": _encoded(x, [True] * 3), "text": _encoded(x, [True] * 3)})
    torch.testing.assert_close(out.pooled, scale * fusion.proj["audio"](x))


@pytest.mark.parametrize("cls", [MeanFusion, MaxFusion, SumFusion])
def test_absent_modality_is_left_out(cls):
    torch.manual_seed(0)
    fusion = cls({"audio": 5, "text": 6}, dim=4).eval()
    audio, text = torch.randn(3, 5), torch.randn(3, 6)
    out = fusion({"audio": _encoded(audio, [False, True, False]), "text": _encoded(text, [True, True, False])})
    # Row 0 has text only: the fused vector is the text projection whatever the reduction.
    torch.testing.assert_close(out.pooled[0], fusion.proj["text"](text[0]))
    # Row 2 has nothing: zeros.
    torch.testing.assert_close(out.pooled[2], torch.zeros(4))


def test_mean_weights_are_uniform_over_present_modalities():
    fusion = MeanFusion({"audio": 2, "image": 2, "text": 2}, dim=3)
    x = torch.randn(2, 2)
    out = fusion(
        {
            "audio": _encoded(x, [True, False]),
            "image": _encoded(x, [True, True]),
            "text": _encoded(x, [True, True]),
        }
    )
    torch.testing.assert_close(out.weights, torch.tensor([[1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5]]))


def test_max_ignores_a_large_absent_projection():
    fusion = _tied(MaxFusion)
    with torch.no_grad():
        fusion.proj["audio"].bias.fill_(1e6)  # audio would win every feature if it counted
    x = torch.randn(1, 5)
    out = fusion({"audio": _encoded(x, [False]), "text": _encoded(x, [True])})
    assert out.pooled.abs().max() < 1e3
    assert out.weights is None
