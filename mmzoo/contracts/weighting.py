"""The weighting contract: how several objectives' losses become one training loss."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

__all__ = ["Weighting"]


class Weighting(nn.Module):
    """Base class of multi-task weighting rules (registered with ``mmzoo_register_weightings``).

    ``forward(losses)`` gets objective name -> scalar loss (each already multiplied by its recipe
    ``weight``) and returns the total loss plus values to log (e.g. the learned weights). A rule may
    own parameters; they are trained with the model.
    """

    def forward(self, losses: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:  # pragma: no cover
        raise NotImplementedError
