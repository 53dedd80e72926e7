"""The MLP of the classification, multi-label and regression heads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmzoo.heads._mlp import mlp_head


def test_linear_and_hidden_forms_keep_their_state_dict_keys():
    assert list(mlp_head(8, None, 3, 0.1).state_dict()) == ["1.weight", "1.bias"]
    hidden = mlp_head(8, 16, 3, 0.1)
    assert [type(layer) for layer in hidden] == [nn.Dropout, nn.Linear, nn.GELU, nn.Dropout, nn.Linear]
    assert list(hidden.state_dict()) == ["1.weight", "1.bias", "4.weight", "4.bias"]
    assert hidden.eval()(torch.randn(5, 8)).shape == (5, 3)


@pytest.mark.parametrize(
    ("name", "options"),
    [("classification", {"num_classes": 3}), ("multilabel", {"num_classes": 3}), ("regression", {"outputs": 3})],
)
def test_heads_put_it_on_the_fused_vector(registry, name, options):
    head = registry.get("head", name).build({**options, "hidden_dim": 16}, {"in_dim": 8})
    keys = [key for key in head.state_dict() if key != "temperature"]  # classification's calibration buffer
    assert keys == ["net.1.weight", "net.1.bias", "net.4.weight", "net.4.bias"]
