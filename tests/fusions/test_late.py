"""Late fusion: a renormalized weighted average of per-modality vectors."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Encoded
from mmzoo.fusions.late import LateFusion


def _encoded(batch: int, dim: int, present: list[bool]) -> Encoded:
    mask = torch.tensor(present).unsqueeze(1).expand(-1, 4).clone()
    seq = torch.randn(batch, 4, dim)
    pooled = torch.where(mask[:, :1], seq.mean(dim=1), 0.0)
    return Encoded(seq=seq, mask=mask, pooled=pooled)


DIMS = {"audio": 5, "image": 3, "text": 7}
WEIGHTS = {"audio": 1.0, "image": 2.0, "text": 5.0}


def _inputs() -> dict[str, Encoded]:
    torch.manual_seed(1)
    return {
        "audio": _encoded(3, 5, [True, False, True]),
        "image": _encoded(3, 3, [True, True, False]),
        "text": _encoded(3, 7, [True, True, False]),
    }


def test_fixed_weights_give_the_weighted_average_of_parts():
    fusion = LateFusion(DIMS, dim=4, hidden_dim=8, weighting="fixed", weights=WEIGHTS).eval()
    out = fusion(_inputs())
    present = torch.tensor([[1.0, 1, 1], [0, 1, 1], [1, 0, 0]])
    raw = torch.tensor([1.0, 2.0, 5.0]) * present
    expected_weights = raw / raw.sum(dim=1, keepdim=True)
    torch.testing.assert_close(out.weights, expected_weights)
    torch.testing.assert_close(out.weights.sum(dim=1), torch.ones(3))
    parts = torch.stack([out.parts[m] for m in sorted(DIMS)], dim=1)
    torch.testing.assert_close(out.pooled, (expected_weights.unsqueeze(-1) * parts).sum(dim=1))


def test_learned_weights_are_a_softmax_over_present_modalities():
    fusion = LateFusion(DIMS, dim=4, weighting="learned").eval()
    with torch.no_grad():
        fusion.logits.copy_(torch.tensor([0.0, 1.0, 2.0]))
    out = fusion(_inputs())
    torch.testing.assert_close(out.weights[0], torch.tensor([0.0, 1.0, 2.0]).softmax(dim=0))
    torch.testing.assert_close(out.weights[1, 0], torch.tensor(0.0))
    torch.testing.assert_close(out.weights[1, 1:], torch.tensor([1.0, 2.0]).softmax(dim=0))
    torch.testing.assert_close(out.weights[2], torch.tensor([1.0, 0.0, 0.0]))
    out.pooled.sum().backward()
    assert fusion.logits.grad is not None and fusion.logits.grad.abs().sum() > 0


def test_linear_head_on_fused_equals_average_of_per_modality_logits():
    fusion = LateFusion(DIMS, dim=4, weighting="mean").eval()
    head = torch.nn.Linear(4, 3)
    out = fusion(_inputs())
    logits = torch.stack([head(out.parts[m]) for m in sorted(DIMS)], dim=1)
    torch.testing.assert_close(head(out.pooled), (out.weights.unsqueeze(-1) * logits).sum(dim=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weighting": "fixed"}, "needs `weights`"),
        ({"weighting": "fixed", "weights": {"audio": 1.0, "image": 1.0}}, "without a weight"),
        ({"weighting": "fixed", "weights": {**WEIGHTS, "video": 1.0}}, "unknown"),
        ({"weighting": "fixed", "weights": {**WEIGHTS, "audio": -1.0}}, "non-negative"),
        ({"weighting": "mean", "weights": WEIGHTS}, "only used with weighting: fixed"),
    ],
)
def test_bad_weight_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        LateFusion(DIMS, **options)
