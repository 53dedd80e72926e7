"""The small MLP the classification, multi-label and regression heads put on the fused vector."""

from __future__ import annotations

from torch import nn

__all__ = ["mlp_head"]


def mlp_head(in_dim: int, hidden_dim: int | None, out_dim: int, dropout: float) -> nn.Sequential:
    """Dropout, then a linear layer; with ``hidden_dim``, a GELU hidden layer (and its dropout) first.

    ``hidden_dim=None``: ``Dropout -> Linear(in_dim, out_dim)``. Otherwise ``Dropout ->
    Linear(in_dim, hidden_dim) -> GELU -> Dropout -> Linear(hidden_dim, out_dim)``. The layers keep
    these positions in the ``nn.Sequential``, so state-dict keys are ``1.*`` (and ``4.*``).

    Inputs:
        ``(B, in_dim)``.
    Returns:
        ``(B, out_dim)``.
    """
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden_dim is not None:
        layers += [nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout)]
        in_dim = hidden_dim
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
