"""Fixed weighting: the plain sum of the (recipe-weighted) losses."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from mmzoo.contracts.weighting import Weighting

__all__ = ["FixedWeighting"]


class FixedWeighting(Weighting):
    """Total loss = sum over objectives of ``weight * loss`` (the weights come from the recipe)."""

    def forward(self, losses: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        return torch.stack(list(losses.values())).sum(), {}
