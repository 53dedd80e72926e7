"""The multilabel head: logits shape, sigmoid probabilities and thresholded labels."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Fused
from mmzoo.heads import MultiLabelHead


def test_logits_shape_and_predictions():
    torch.manual_seed(0)
    head = MultiLabelHead(in_dim=8, num_classes=5, hidden_dim=16)
    logits = head(Fused(pooled=torch.randn(3, 8)), {})
    assert logits.shape == (3, 5)
    predicted = head.predict(logits)
    assert set(predicted) == {"probs", "labels"}
    torch.testing.assert_close(predicted["probs"], logits.sigmoid())
    assert predicted["labels"].shape == (3, 5)
    assert torch.equal(predicted["labels"], (logits.sigmoid() > 0.5).long())


def test_threshold_option():
    head = MultiLabelHead(in_dim=2, num_classes=3, threshold=0.8)
    logits = torch.tensor([[0.0, 1.0, 2.0]])  # sigmoid: 0.5, 0.73, 0.88
    assert head.predict(logits)["labels"].tolist() == [[0, 0, 1]]


@pytest.mark.parametrize("options", [{"num_classes": 0}, {"num_classes": 3, "threshold": 1.0}])
def test_bad_options(options):
    with pytest.raises(ValueError):
        MultiLabelHead(in_dim=4, **options)
