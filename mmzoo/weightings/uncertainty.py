"""Homoscedastic uncertainty weighting (Kendall, Gal and Cipolla, 2018)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from mmzoo.contracts.weighting import Weighting

__all__ = ["UncertaintyWeighting"]


class UncertaintyWeighting(Weighting):
    """Learned task weights from homoscedastic uncertainty.

    Method: Kendall, Gal and Cipolla, 2018, "Multi-Task Learning Using Uncertainty to Weigh Losses
    for Scene Geometry and Semantics". Each objective ``i`` gets a learned log-variance ``s_i`` and
    the total is ``sum_i exp(-s_i) * L_i + s_i`` (the common form that treats every loss alike;
    the paper's 1/2 factors for regression only rescale ``s``). Logged: ``weight/<objective>`` =
    ``exp(-s_i)``.

    Args:
        init_log_variance: starting value of every ``s_i`` (0 gives weight 1).
    """

    def __init__(self, objectives: tuple[str, ...], init_log_variance: float = 0.0) -> None:
        super().__init__()
        self.names = list(objectives)
        self.log_variance = nn.Parameter(torch.full((len(self.names),), float(init_log_variance)))

    def forward(self, losses: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        total = losses[self.names[0]].new_zeros(())
        logs: dict[str, Tensor] = {}
        for index, name in enumerate(self.names):
            s = self.log_variance[index]
            total = total + torch.exp(-s) * losses[name] + s
            logs[f"weight/{name}"] = torch.exp(-s).detach()
        return total, logs
