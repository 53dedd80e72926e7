"""The regression head: ``(B,)`` for one output, ``(B, K)`` for several."""

from __future__ import annotations

import pytest
import torch

from mmzoo.contracts import Fused
from mmzoo.heads import RegressionHead


def test_single_output_is_one_value_per_row():
    head = RegressionHead(in_dim=8)
    out = head(Fused(pooled=torch.randn(4, 8)), {})
    assert out.shape == (4,)
    predicted = head.predict(out)
    assert set(predicted) == {"value"}
    torch.testing.assert_close(predicted["value"], out)


def test_several_outputs():
    head = RegressionHead(in_dim=8, outputs=3, hidden_dim=16, dropout=0.1).eval()
    out = head(Fused(pooled=torch.randn(4, 8)), {})
    assert out.shape == (4, 3)
    assert head.predict(out)["value"].shape == (4, 3)


def test_outputs_must_be_positive():
    with pytest.raises(ValueError):
        RegressionHead(in_dim=8, outputs=0)
